import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { BearerError, bodyFor, challengeFor } from './errors.js'
import { hasScopes, type AccessTokenClaims } from './verify.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims, set by `requireScope`; null on unprotected routes. */
    auth: AccessTokenClaims | null
  }
}

/** Usable as a route's `preHandler` or, to authenticate before the body is read, `onRequest`. */
export type BearerHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** The token from an `Authorization: Bearer …` header (RFC 6750 §2.1), or a BearerError. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined) throw BearerError.missing()
  const space = header.search(/\s/)
  const scheme = space === -1 ? header : header.slice(0, space)
  // RFC 7235 §2.1: the scheme name is case-insensitive. Another scheme means no bearer
  // credentials, which RFC 6750 §3.1 answers without an error code.
  if (scheme.toLowerCase() !== 'bearer') throw BearerError.missing()
  const credentials = space === -1 ? '' : header.slice(space).trim()
  if (credentials === '') throw BearerError.invalidRequest('bearer token is missing')
  if (/\s/.test(credentials)) throw BearerError.invalidRequest('only one bearer token is allowed')
  if (!B64TOKEN.test(credentials)) throw BearerError.invalidRequest('bearer token has invalid characters')
  return credentials
}

export function sendBearerError(reply: FastifyReply, error: BearerError, realm: string): FastifyReply {
  const challenge = challengeFor(error, realm)
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(error.status).send(bodyFor(error))
}

/**
 * Builds `requireScope`. Only the Authorization header is read: RFC 6750 §2.3 query tokens are
 * not supported (OAuth 2.1 §5.1), so `?access_token=` is ignored.
 */
export function createRequireScope(
  verify: (token: string) => Promise<AccessTokenClaims>,
  realm: string,
): (...scopes: string[]) => BearerHook {
  return (...scopes) => {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); "a b" would never match.
    const bad = scopes.find((scope) => !SCOPE_TOKEN.test(scope))
    if (bad !== undefined) throw new TypeError(`not a scope name: ${JSON.stringify(bad)}`)
    return async function requireScope(request, reply) {
      try {
        const claims = await verify(bearerToken(request.headers.authorization))
        if (!hasScopes(claims, scopes)) throw BearerError.insufficientScope(scopes)
        request.auth = claims
        return undefined
      } catch (error) {
        // Anything else is a bug: let fastify answer 500.
        if (!(error instanceof BearerError)) throw error
        // Never the token itself, and no cause for 4xx: jose errors carry the claims.
        if (error.status === 503) request.log.warn({ err: error.cause }, error.description)
        else request.log.debug(`bearer authentication failed: ${error.description}`)
        return sendBearerError(reply, error, realm)
      }
    }
  }
}

const registerAuth: FastifyPluginAsync = async (app) => {
  // Two resource servers in one app share the decoration.
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', null)
}

/**
 * Decorates requests with `auth`. Not encapsulated (what fastify-plugin does), so the
 * decoration reaches the routes registered beside it.
 */
export const authPlugin: FastifyPluginAsync = Object.assign(registerAuth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'latchkey-resource-server',
})
