import swagger from '@fastify/swagger'
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { AdminError, type AdminErrorKind } from '../../admin/admin-error.js'
import { ADMIN_SCOPE, adminAudience } from '../../admin/client-rules.js'
import type { KeyStore } from '../../keys/key-store.js'
import type { AccessTokenVerifier } from '../../tokens/verify-access-token.js'
import { adminAuthenticator } from './auth.js'
import { adminClientRoutes } from './client-routes.js'
import { adminUserRoutes, type AdminRouteOptions } from './user-routes.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin client a request to /admin/v1 acts as: the `actor` of its audit events. */
    adminClientId: string
  }
}

export interface AdminApiOptions extends AdminRouteOptions {
  verifier: AccessTokenVerifier
  keys: Pick<KeyStore, 'list'>
}

const STATUS: Record<AdminErrorKind, number> = { not_found: 404, invalid: 400, conflict: 409 }
const CODE: Record<AdminErrorKind, string> = { not_found: 'not_found', invalid: 'invalid_request', conflict: 'conflict' }

/**
 * AdminError as JSON `{error, error_description}` (404, 400, 409), a schema violation as 400
 * `invalid_request`; anything else goes to the app's handler, which gives the refusals of the
 * authenticator their RFC 6750 challenge (`errorFormat: 'bearer'`).
 */
function adminErrors(error: FastifyError | Error, _request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof AdminError) return reply.code(STATUS[error.kind]).send({ error: CODE[error.kind], error_description: error.message })
  // fastify's message names the part and the field: "body must have required property 'password'".
  if ((error as FastifyError).validation !== undefined) return reply.code(400).send({ error: 'invalid_request', error_description: error.message })
  throw error
}

/**
 * The admin API (ADMIN_API=on), registered under /admin/v1: the same functions of src/admin/
 * the CLI calls, so the same rules and the same errors. Every route but the OpenAPI document
 * needs an admin token (./auth.ts); the document is generated from the route schemas.
 */
export const adminApi: FastifyPluginAsync<AdminApiOptions> = async (app, options) => {
  const audience = adminAudience(options.issuer)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'latchkey admin API',
        version: '1',
        description: `Administration of latchkey. Every route takes a client credentials access token of an admin client (client add --admin) for the audience ${audience} with the scope ${ADMIN_SCOPE}.`,
      },
      servers: [{ url: audience }],
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ adminToken: [] }],
    },
    // Paths as the server sees them relative to `servers` (the /admin/v1 prefix is in the URL).
    transform: ({ schema, url }) => ({ schema, url: url.replace(/^\/admin\/v1/, '') }),
  })

  // JSON only: no form body reaches an admin route (the app's form parser is not inherited).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
  app.setErrorHandler(adminErrors)

  const authenticate = adminAuthenticator({ verifier: options.verifier, accessTokens: options.repos.accessTokens, clients: options.repos.clients, audience })
  app.decorateRequest('adminClientId', '')
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, errorFormat: 'bearer' }
  })
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === '/admin/v1/openapi.json') return
    request.adminClientId = await authenticate(request)
  })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  const routeOptions = { repos: options.repos, passwords: options.passwords, clock: options.clock, issuer: options.issuer, keys: options.keys }
  await app.register(adminUserRoutes, routeOptions)
  await app.register(adminClientRoutes, routeOptions)
}
