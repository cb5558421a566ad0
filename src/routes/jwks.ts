import type { FastifyPluginAsync } from 'fastify'
import type { Clock } from '../clock.js'
import type { KeyStore } from '../keys/key-store.js'

export interface JwksRouteOptions {
  keys: KeyStore
  clock: Clock
  /** Below KEY_PUBLISH_DELAY (jwksMaxAgeSeconds), so cached copies hold a new key before it signs. */
  maxAgeSeconds: number
}

export const jwksRoute: FastifyPluginAsync<JwksRouteOptions> = async (app, { keys, clock, maxAgeSeconds }) => {
  const cacheControl = maxAgeSeconds > 0 ? `public, max-age=${maxAgeSeconds}` : 'no-cache'
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', cacheControl)
    return keys.jwks(clock.now())
  })
}
