import type { FastifyPluginAsync } from 'fastify'
import type { KeyStore } from '../keys/key-store.js'

export const jwksRoute: FastifyPluginAsync<{ keys: KeyStore }> = async (app, { keys }) => {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    // Short cache: resource servers refetch on an unknown kid anyway.
    reply.header('cache-control', 'public, max-age=300')
    return keys.jwks()
  })
}
