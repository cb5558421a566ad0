import type { FastifyInstance, HTTPMethods } from 'fastify'
import { OAuthError } from '../errors.js'

/** A route's `rateLimit` config: `limit` requests per minute per IP; undefined means none. */
export function perMinute(limit: number | undefined): false | { max: number; timeWindow: number } {
  return limit === undefined ? false : { max: limit, timeWindow: 60_000 }
}

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
