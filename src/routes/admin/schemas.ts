/** JSON schemas of the admin API: they validate requests and generate /admin/v1/openapi.json. */

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const strings = { type: 'array', items: str } as const
const time = { type: 'string', format: 'date-time' } as const
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const

export const errorBody = {
  type: 'object',
  properties: { error: str, error_description: str },
  required: ['error_description'],
} as const

/** A list with nothing to search by (a user's sessions): `search` is refused, not ignored. */
export const pagingQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', description: 'items per page, 1 to 500 (default 50)' },
    after: { type: 'string', description: 'the `next` cursor of the previous page' },
  },
  additionalProperties: false,
} as const

export const listQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', description: 'items per page, 1 to 500 (default 50)' },
    after: { type: 'string', description: 'the `next` cursor of the previous page' },
    search: { type: 'string', description: 'only items containing this text (case-insensitive)' },
  },
  additionalProperties: false,
} as const

export function pageOf(item: object) {
  return {
    type: 'object',
    properties: { items: { type: 'array', items: item }, next: { ...nullableStr, description: 'cursor of the next page; null on the last' } },
    required: ['items', 'next'],
  } as const
}

export const user = {
  type: 'object',
  properties: { id: str, username: str, email: nullableStr, name: nullableStr, created_at: time, disabled: { type: 'boolean' }, disabled_at: nullableTime },
  required: ['id', 'username', 'email', 'name', 'created_at', 'disabled', 'disabled_at'],
} as const

export const userId = { type: 'object', properties: { id: str, username: str }, required: ['id', 'username'] } as const

export const client = {
  type: 'object',
  properties: {
    client_id: str,
    name: str,
    public: { type: 'boolean' },
    admin: { type: 'boolean' },
    redirect_uris: strings,
    post_logout_redirect_uris: strings,
    grants: strings,
    scopes: strings,
    resources: strings,
    audience: nullableStr,
    created_at: time,
    previous_secret_expires_at: nullableTime,
    self_registered: { type: 'boolean' },
    require_mfa: { type: 'boolean', description: 'its users must sign in with two factors or a passkey' },
  },
  required: [
    'client_id', 'name', 'public', 'admin', 'redirect_uris', 'post_logout_redirect_uris', 'grants', 'scopes', 'resources', 'audience', 'created_at',
    'previous_secret_expires_at', 'self_registered', 'require_mfa',
  ],
} as const

export const addedClient = {
  type: 'object',
  properties: { client_id: str, client_secret: { ...str, description: 'shown once; absent for a public client' } },
  required: ['client_id'],
} as const

export const rotatedSecret = {
  type: 'object',
  properties: { client_id: str, client_secret: str, previous_secret_expires_at: nullableTime },
  required: ['client_id', 'client_secret', 'previous_secret_expires_at'],
} as const

export const scope = { type: 'object', properties: { name: str, description: str }, required: ['name', 'description'] } as const

export const grant = {
  type: 'object',
  properties: {
    client_id: str,
    client_name: str,
    consents: {
      type: 'array',
      items: { type: 'object', properties: { resource: str, scopes: strings, created_at: time, updated_at: time }, required: ['resource', 'scopes', 'created_at', 'updated_at'] },
    },
    refresh_token_families: {
      type: 'array',
      items: { type: 'object', properties: { id: str, scopes: strings, audience: str, created_at: time }, required: ['id', 'scopes', 'audience', 'created_at'] },
    },
  },
  required: ['client_id', 'client_name', 'consents', 'refresh_token_families'],
} as const

export const session = {
  type: 'object',
  properties: { created_at: time, auth_time: time, expires_at: time },
  required: ['created_at', 'auth_time', 'expires_at'],
} as const

/** The fields the key store reports today; later fields (signs_from, retires_at) pass through. */
export const key = {
  type: 'object',
  properties: { kid: str, alg: str, status: str, created_at: time },
  required: ['kid', 'alg', 'status', 'created_at'],
  additionalProperties: true,
} as const

export const usernameParams = { type: 'object', properties: { username: str }, required: ['username'] } as const
export const clientIdParams = { type: 'object', properties: { client_id: str }, required: ['client_id'] } as const
export const scopeParams = { type: 'object', properties: { name: str }, required: ['name'] } as const

/** The errors every protected route may answer, for the document. */
export function withErrors(responses: Record<number, object>, ...more: number[]): Record<number, object> {
  const errors: Record<number, object> = {}
  for (const status of [400, 401, 403, ...more]) errors[status] = errorBody
  return { ...responses, ...errors }
}
