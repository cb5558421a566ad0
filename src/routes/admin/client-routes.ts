import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { addClient, listClients, removeClient, rotateSecret, showClient, updateClient } from '../../admin/clients.js'
import type { ListInput } from '../../admin/paging.js'
import { addScope, listScopes, removeScope } from '../../admin/scopes.js'
import type { KeyStore } from '../../keys/key-store.js'
import { addedClient, client, clientIdParams, key, listQuery, pageOf, rotatedSecret, scope, scopeParams, withErrors } from './schemas.js'
import type { AdminRouteOptions } from './user-routes.js'

type Params = { client_id: string }
const strings = { type: 'array', items: { type: 'string' } } as const

/** The registration fields, as `client add` and `client update` name them. */
const registration = {
  name: { type: 'string' },
  redirect_uris: strings,
  post_logout_redirect_uris: strings,
  grants: { ...strings, description: 'grant_type values' },
  scope: { type: 'string', description: 'space-separated; "" for none' },
  resources: { ...strings, description: 'the audiences it may request (RFC 8707)' },
  admin: { type: 'boolean', description: 'an admin API client (scope latchkey:admin, audience ISSUER/admin/v1)' },
  require_mfa: { type: 'boolean', description: 'accept only a sign-in with two factors or a passkey (--require-mfa)' },
} as const

interface RegistrationBody {
  name?: string
  redirect_uris?: string[]
  post_logout_redirect_uris?: string[]
  grants?: string[]
  scope?: string
  resources?: string[]
  admin?: boolean
  require_mfa?: boolean
}

function registrationInput(body: RegistrationBody) {
  return {
    name: body.name,
    redirectUris: body.redirect_uris,
    postLogoutRedirectUris: body.post_logout_redirect_uris,
    grants: body.grants,
    scope: body.scope,
    resources: body.resources,
    admin: body.admin,
    requireMfa: body.require_mfa,
  }
}

/** Clients, scopes and keys: /admin/v1/clients…, /admin/v1/scopes…, /admin/v1/keys. */
export const adminClientRoutes: FastifyPluginAsync<AdminRouteOptions & { keys: Pick<KeyStore, 'list'> }> = async (app, { repos, clock, issuer, keys }) => {
  const acting = (request: FastifyRequest) => ({ clock, audit: request.audit, actor: request.adminClientId, issuer, clients: repos.clients, scopes: repos.scopes })
  const tags = ['clients']

  app.get('/clients', { schema: { tags, summary: 'List clients by client_id (search: client_id or name)', querystring: listQuery, response: withErrors({ 200: pageOf(client) }) } }, async (request) =>
    listClients({ clients: repos.clients, clock }, request.query as ListInput),
  )
  app.post(
    '/clients',
    {
      schema: {
        tags,
        summary: "Register a client; a confidential client's secret is in the answer, once",
        body: {
          type: 'object',
          properties: { ...registration, public: { type: 'boolean' }, audience: { type: 'string', description: 'register a resource server for this audience' } },
          required: ['name'],
          additionalProperties: false,
        },
        response: withErrors({ 201: addedClient }),
      },
    },
    async (request, reply) => {
      const body = request.body as RegistrationBody & { name: string; public?: boolean; audience?: string }
      const added = await addClient(acting(request), { ...registrationInput(body), name: body.name, isPublic: body.public, audience: body.audience })
      return reply.code(201).send(added)
    },
  )
  app.get('/clients/:client_id', { schema: { tags, summary: 'Show a client', params: clientIdParams, response: withErrors({ 200: client }, 404) } }, async (request) =>
    showClient({ clients: repos.clients, clock }, (request.params as Params).client_id),
  )
  app.patch(
    '/clients/:client_id',
    {
      schema: {
        tags,
        summary: 'Change a client: each field given replaces what is registered',
        params: clientIdParams,
        body: { type: 'object', properties: registration, additionalProperties: false },
        response: withErrors({ 200: client }, 404),
      },
    },
    async (request) => updateClient(acting(request), (request.params as Params).client_id, registrationInput(request.body as RegistrationBody)),
  )
  app.post(
    '/clients/:client_id/rotate-secret',
    {
      schema: {
        tags,
        summary: 'Issue a new secret (in the answer, once); the old one stops now or after grace_seconds',
        params: clientIdParams,
        body: { type: ['object', 'null'], properties: { grace_seconds: { type: 'integer' } }, additionalProperties: false },
        response: withErrors({ 200: rotatedSecret }, 404),
      },
    },
    async (request) => rotateSecret(acting(request), (request.params as Params).client_id, { graceSeconds: (request.body as { grace_seconds?: number } | null)?.grace_seconds }),
  )
  app.delete(
    '/clients/:client_id',
    { schema: { tags, summary: 'Remove a client: its families revoked, its consents and codes deleted; latchkey refuses its access tokens at once (resource servers verifying locally accept them until they expire)', params: clientIdParams, response: withErrors({ 200: { type: 'object', properties: { client_id: { type: 'string' } } } }, 404) } },
    async (request) => removeClient(acting(request), (request.params as Params).client_id),
  )

  const scopeTags = ['scopes']
  app.get('/scopes', { schema: { tags: scopeTags, summary: 'List scopes by name', querystring: listQuery, response: withErrors({ 200: pageOf(scope) }) } }, async (request) =>
    listScopes({ scopes: repos.scopes }, request.query as ListInput),
  )
  app.put(
    '/scopes/:name',
    {
      schema: {
        tags: scopeTags,
        summary: 'Add a scope, or change the description of an existing one',
        params: scopeParams,
        body: { type: 'object', properties: { description: { type: 'string' } }, required: ['description'], additionalProperties: false },
        response: withErrors({ 200: scope }),
      },
    },
    async (request) => addScope(acting(request), { name: (request.params as { name: string }).name, description: (request.body as { description: string }).description }),
  )
  app.delete(
    '/scopes/:name',
    { schema: { tags: scopeTags, summary: 'Remove a scope (refused while a client may request it)', params: scopeParams, response: withErrors({ 200: { type: 'object', properties: { name: { type: 'string' } } } }, 404, 409) } },
    async (request) => removeScope(acting(request), (request.params as { name: string }).name),
  )

  app.get('/keys', { schema: { tags: ['keys'], summary: 'The signing keys in KEYS_DIR', response: withErrors({ 200: pageOf(key) }) } }, async () => ({ items: keys.list(), next: null }))
}
