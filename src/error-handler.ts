import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { OAuthError } from './errors.js'

/** How a route wants its errors rendered; set in the route's `config.errorFormat`. */
export type ErrorFormat = 'json'

declare module 'fastify' {
  interface FastifyContextConfig {
    errorFormat?: ErrorFormat
  }
}

/** Turns a framework error (bad body, too large, wrong content type) into an OAuthError. */
export function toOAuthError(error: FastifyError | Error): OAuthError {
  if (error instanceof OAuthError) return error
  const status = (error as FastifyError).statusCode
  if (status === 413) return new OAuthError('invalid_request', 'request body is too large', { status: 413 })
  if (status === 415) return new OAuthError('invalid_request', 'unsupported content type', { status: 415 })
  if (status !== undefined && status >= 400 && status < 500) {
    return new OAuthError('invalid_request', 'malformed request', { status: 400, cause: error })
  }
  return new OAuthError('server_error', 'internal server error', { cause: error })
}

export function sendJsonError(reply: FastifyReply, error: OAuthError): FastifyReply {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  if (error.code === 'invalid_client' && error.status === 401) {
    reply.header('www-authenticate', 'Basic realm="latchkey"')
  }
  return reply.code(error.status).send({ error: error.code, error_description: error.description })
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const oauthError = toOAuthError(error)
  if (oauthError.code === 'server_error') {
    // Any non-protocol error is a bug: log it with the request id, answer without detail.
    request.log.error({ err: error }, 'unhandled error')
  }
  return sendJsonError(reply, oauthError)
}
