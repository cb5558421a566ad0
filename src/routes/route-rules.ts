import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RequestPayload } from 'fastify'
import { OAuthError } from '../errors.js'

/** Every other method at `url` is a JSON 405 `invalid_request` naming the allowed ones. */
export function refuseOtherMethods(app: FastifyInstance, url: string, methods: HTTPMethods[], allow: string): void {
  app.route({
    method: methods,
    url,
    config: { errorFormat: 'json' },
    handler: async (_request, reply) => {
      reply.header('allow', allow)
      throw new OAuthError('invalid_request', 'method not allowed', { status: 405 })
    },
  })
}

/** The media type of a Content-Type header, lowercased, without parameters (RFC 9110 §8.3.1). */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}

/**
 * A `preParsing` hook that answers 415 for a body of any media type but `accepted`, before any
 * parser runs. RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: form bodies; /token also takes
 * JSON.
 */
export function acceptMediaTypes(...accepted: string[]) {
  return async function refuseOtherMediaTypes(request: FastifyRequest, _reply: FastifyReply, payload: RequestPayload): Promise<RequestPayload> {
    const contentType = request.headers['content-type']
    if (contentType !== undefined && !accepted.includes(mediaType(contentType))) throw OAuthError.unsupportedContentType()
    return payload
  }
}

/**
 * An onSend hook: every response is `no-store` unless its route set a Cache-Control of its own
 * (discovery, JWKS, health), so a new route cannot forget it: tokens (OAuth 2.1 §3.2.3),
 * personal data, pages and errors, framework ones included. An error is never cacheable,
 * whatever its route set.
 */
export async function noStoreByDefault(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const cacheControl = reply.getHeader('cache-control')
  if (cacheControl === undefined || (reply.statusCode >= 400 && cacheControl !== 'no-store')) {
    // Pragma for HTTP/1.0 caches (RFC 6749 §5.1).
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  }
  return payload
}
