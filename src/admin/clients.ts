import type { Clock } from '../clock.js'
import { redirectUriProblem } from '../oauth/redirect-uri.js'
import { isResourceUri, RESOURCE_URI_RULE } from '../oauth/resource-uri.js'
import { parseScope, USER_SCOPES } from '../oauth/scope.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import { GRANT_TYPES, type Client, type ClientRepository, type GrantType } from '../storage/clients.js'
import type { ScopeRepository } from '../storage/scopes.js'
import { AdminError } from './admin-error.js'

export interface AddClientInput {
  name: string
  redirectUris?: string[] | undefined
  postLogoutRedirectUris?: string[] | undefined
  isPublic?: boolean | undefined
  grants?: string[] | undefined
  scope?: string | undefined
  audience?: string | undefined
}

export interface AddedClient {
  client_id: string
  client_secret?: string
}

function grantsOf(input: AddClientInput): GrantType[] {
  if (input.grants === undefined || input.grants.length === 0) {
    // A resource server registered with --audience only introspects: no grant unless asked.
    return input.audience === undefined ? ['authorization_code', 'refresh_token'] : []
  }
  for (const grant of input.grants) {
    if (!GRANT_TYPES.includes(grant as GrantType)) {
      throw new AdminError(`unknown grant "${grant}" (expected one of: ${GRANT_TYPES.join(', ')})`)
    }
  }
  return [...new Set(input.grants as GrantType[])]
}

function checkUris(option: string, uris: readonly string[]): void {
  for (const uri of uris) {
    const problem = redirectUriProblem(uri)
    if (problem) throw new AdminError(`${option} "${uri}" ${problem}`)
  }
}

export async function addClient(
  deps: { clients: ClientRepository; scopes: ScopeRepository; clock: Clock },
  input: AddClientInput,
): Promise<AddedClient> {
  const name = input.name.trim()
  if (name === '' || name.length > 255) throw new AdminError('--name must be 1 to 255 characters')
  const isPublic = input.isPublic === true
  const grants = grantsOf(input)
  // OAuth 2.1 §4.2: client credentials only for confidential clients; the password grant likewise.
  for (const grant of ['client_credentials', 'password'] as const) {
    if (isPublic && grants.includes(grant)) throw new AdminError(`--public cannot be used with the ${grant} grant`)
  }
  if (input.audience !== undefined) {
    if (isPublic) throw new AdminError('--public cannot be used with --audience (a resource server must authenticate)')
    if (!isResourceUri(input.audience)) throw new AdminError(`--audience ${JSON.stringify(input.audience)} must be ${RESOURCE_URI_RULE}`)
  }
  const redirectUris = [...new Set(input.redirectUris ?? [])]
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw new AdminError('--redirect-uri is required for the authorization_code grant')
  }
  checkUris('--redirect-uri', redirectUris)
  const postLogoutRedirectUris = [...new Set(input.postLogoutRedirectUris ?? [])]
  checkUris('--post-logout-redirect-uri', postLogoutRedirectUris)

  // `--scope ""` registers a client that may request no scope at all.
  const scopes = input.scope === undefined ? [...USER_SCOPES] : input.scope.trim() === '' ? [] : parseScope(input.scope)
  if (scopes === undefined) throw new AdminError(`--scope "${input.scope}" is not a space-separated list of scope names`)
  const known = new Set((await deps.scopes.findByNames(scopes)).map((s) => s.name))
  const unknown = scopes.filter((s) => !known.has(s))
  if (unknown.length > 0) throw new AdminError(`unknown scope(s): ${unknown.join(', ')} (add them with "latchkey scope add")`)

  const clientId = `lk_${randomToken(16)}`
  const secret = isPublic ? undefined : randomToken(32)
  const client: Client = {
    id: clientId,
    name,
    secretHash: secret === undefined ? null : sha256Hex(secret),
    isPublic,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes: grants,
    scopes,
    audience: input.audience ?? null,
    createdAt: deps.clock.now(),
  }
  await deps.clients.create(client)
  return secret === undefined ? { client_id: clientId } : { client_id: clientId, client_secret: secret }
}
