import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { checkScopeNames, type Authenticate } from './authenticate.js'
import type { ResourceMetadata } from './resource-metadata.js'
import type { AccessTokenClaims } from './verify.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims, set by `requireScope`; null on unprotected routes. */
    auth: AccessTokenClaims | null
  }
}

/** Usable as a route's `preHandler` or, to authenticate before the body is read, `onRequest`. */
export type BearerHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

/** Builds `requireScope`: `authenticate` as a fastify hook. */
export function createRequireScope(
  authenticate: Authenticate,
  noteScopes: (scopes: readonly string[]) => void = () => {},
): (...scopes: string[]) => BearerHook {
  return (...scopes) => {
    // Checked and noted now, when the route is declared, not at its first request.
    checkScopeNames(scopes)
    noteScopes(scopes)
    // A promise chain, not an async function: one promise less per request.
    return function requireScope(request, reply) {
      return authenticate(request.headers.authorization, scopes).then((result) => {
        if (result.ok) {
          request.auth = result.claims
          return undefined
        }
        const { error } = result
        // Never the token itself, and no cause for 4xx: jose errors carry the claims.
        if (error.status === 503) request.log.warn({ err: error.cause }, error.description)
        else request.log.debug(`bearer authentication failed: ${error.description}`)
        return reply.code(result.status).headers(result.headers).send(result.body)
      })
    }
  }
}

/**
 * Decorates requests with `auth` and serves the RFC 9728 metadata, if any. Not encapsulated
 * (what fastify-plugin does), so the decoration reaches the routes registered beside it.
 */
export function createPlugin(metadata: ResourceMetadata | undefined): FastifyPluginAsync {
  const register: FastifyPluginAsync = async (app) => {
    // Two resource servers in one app share the decoration.
    if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null)
    if (metadata === undefined) return
    // RFC 9728 §3.1 fixes the path from the origin: under a prefix the route would be elsewhere.
    if (app.prefix !== '') {
      throw new Error(`register the resource server's plugin without a prefix (not under ${app.prefix}): it serves ${metadata.url}`)
    }
    const { path } = metadata.response()
    // A colon in a fastify path starts a parameter unless doubled.
    app.get(path.replaceAll(':', '::'), async (_request, reply) => {
      const { headers, body } = metadata.response()
      return reply.headers(headers).send(body)
    })
  }
  return Object.assign(register, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'latchkey-resource-server',
  })
}
