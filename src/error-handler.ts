import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthorizationRedirectError, OAuthError, REALM, type AnyOAuthError, type ErrorReason } from './errors.js'
import { bearerChallenge, isBearerRefusal } from './oauth/bearer.js'
import type { Pages } from './pages/pages.js'

/**
 * How a route wants its errors rendered; set in the route's `config.errorFormat`.
 * `json`: RFC 6749 §5.2 JSON. `authorize`: an error page until the client and redirect URI
 * are verified, then a redirect to the client (RFC 6749 §4.1.2.1; for a self-registered client
 * only after the user answered the consent page, see authorization/request.ts). `bearer`: a resource
 * protected by latchkey's access tokens, the same JSON plus an RFC 6750 §3 challenge.
 */
export type ErrorFormat = 'json' | 'authorize' | 'bearer'

declare module 'fastify' {
  interface FastifyContextConfig {
    errorFormat?: ErrorFormat
    /**
     * What an error page tells a person about a plain bad request (an error without its own
     * reason): `bad_request` (blames the app that sent them) unless the route names a fitting one.
     */
    badRequestReason?: ErrorReason
  }
}

/**
 * Turns a framework error (bad body, too large, wrong content type) into an OAuthError, and an
 * error `isUnavailable` recognizes (the database is unreachable) into 503 temporarily_unavailable.
 */
export function toOAuthError(error: FastifyError | Error, isUnavailable: (error: unknown) => boolean = () => false): AnyOAuthError {
  if (error instanceof OAuthError) return error
  const status = (error as FastifyError).statusCode
  // A framework error about the request (a body the client cut off carries ECONNRESET, as a
  // lost database connection does) stays the client's 4xx: never a false database outage.
  if ((status === undefined || status >= 500) && isUnavailable(error)) return OAuthError.temporarilyUnavailable(error)
  if (status === 413) return new OAuthError('invalid_request', 'request body is too large', { status: 413 })
  if (status === 415) return OAuthError.unsupportedContentType()
  if (status !== undefined && status >= 400 && status < 500) {
    return new OAuthError('invalid_request', 'malformed request', { status: 400, cause: error })
  }
  return new OAuthError('server_error', 'internal server error', { cause: error })
}

/**
 * RFC 6749 §5.2 JSON. Cache-Control: no-store comes from the app's onSend hook, as for every
 * response. RFC 6750 §3.1: an error without a code (no credentials) has no `error` member.
 */
export function sendJsonError(reply: FastifyReply, error: AnyOAuthError): FastifyReply {
  if (error.code === 'invalid_client' && error.status === 401) {
    reply.header('www-authenticate', `Basic realm="${REALM}"`)
  }
  const body = error.code === undefined
    ? { error_description: error.description }
    : { error: error.code, error_description: error.description }
  return reply.code(error.status).send(body)
}

/** The client's redirect URI with the RFC 6749 §4.1.2.1 error parameters and RFC 9207 `iss`. */
export function errorRedirectUrl(error: AuthorizationRedirectError, issuer: string): string {
  const url = new URL(error.redirectUri)
  url.searchParams.set('error', error.code)
  url.searchParams.set('error_description', error.description)
  if (error.state !== undefined) url.searchParams.set('state', error.state)
  url.searchParams.set('iss', issuer)
  return url.href
}

/** A redirect after a form POST is a 303 (RFC 9700 §4.12: never 307). */
export function redirectStatus(request: FastifyRequest): 302 | 303 {
  return request.method === 'GET' ? 302 : 303
}

function sendAuthorizeError(request: FastifyRequest, reply: FastifyReply, error: OAuthError, deps: ErrorHandlerDeps): FastifyReply {
  if (error instanceof AuthorizationRedirectError) {
    return reply.redirect(errorRedirectUrl(error, deps.issuer), redirectStatus(request))
  }
  // Client or redirect URI not verified: never redirect (RFC 9700 §4.11.2), show the error.
  const reason = errorReason(error, request.routeOptions.config?.badRequestReason)
  const data = { error: error.code, description: error.description, status: error.status, reason }
  return deps.pages.render(reply, 'error', data, { status: error.status })
}

/** What the error page tells a person: the error's own reason, else one by its status. */
export function errorReason(error: OAuthError, badRequest: ErrorReason = 'bad_request'): ErrorReason {
  if (error.reason !== undefined) return error.reason
  if (error.status === 403) return 'wrong_browser'
  if (error.status === 429) return 'too_many'
  if (error.status === 503) return 'unavailable'
  if (error.status >= 500) return 'server'
  return badRequest
}

/**
 * RFC 6750 §3: a refused bearer request gets the JSON error and a challenge naming the error
 * (none without credentials, §3.1). Anything else (a bug, a body too large) is plain JSON.
 */
function sendBearerError(request: FastifyRequest, reply: FastifyReply, error: AnyOAuthError): FastifyReply {
  // Never the token itself: descriptions never quote it.
  request.log.debug(`${request.routeOptions.url ?? ''} bearer authentication failed: ${error.description}`)
  reply.header('www-authenticate', bearerChallenge(error, REALM))
  return sendJsonError(reply, error)
}

function hasCode(error: AnyOAuthError): error is OAuthError {
  return error.code !== undefined
}

export interface ErrorHandlerDeps {
  issuer: string
  pages: Pages
  /** Which errors mean the database is unreachable (storage's rule, given by app.ts): 503. */
  isUnavailable?: (error: unknown) => boolean
}

/** What the log says of the driver's error: its code and message, nothing of its connection. */
function unavailableSummary(error: Error): { code: unknown; message: string } {
  return { code: (error as { code?: unknown }).code, message: error.message }
}

export function createErrorHandler(deps: ErrorHandlerDeps) {
  return function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const oauthError = toOAuthError(error, deps.isUnavailable)
    if (oauthError.code === 'server_error') {
      // Any non-protocol error is a bug: log it with the request id, answer without detail.
      request.log.error({ err: error }, 'unhandled error')
    } else if (oauthError.code === 'temporarily_unavailable' && !(error instanceof OAuthError)) {
      // Not a bug: an outage, logged once per request without a stack.
      request.log.warn({ event: 'database_unavailable', cause: unavailableSummary(error) }, 'database unavailable')
    }
    // RFC 6585 §4: a 429 (and RFC 9110 §15.6.4 a 503) says when to come back, in every format.
    if (oauthError.retryAfterSeconds !== undefined) reply.header('retry-after', String(oauthError.retryAfterSeconds))
    const format = request.routeOptions.config?.errorFormat
    if (format === 'authorize' && hasCode(oauthError)) {
      return sendAuthorizeError(request, reply, oauthError, deps)
    }
    // Only what the route itself refused carries a challenge, never a framework error.
    if (format === 'bearer' && error instanceof OAuthError && isBearerRefusal(oauthError)) {
      return sendBearerError(request, reply, oauthError)
    }
    return sendJsonError(reply, oauthError)
  }
}
