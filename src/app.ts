import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import { systemClock, type Clock } from './clock.js'
import { errorHandler, sendJsonError } from './error-handler.js'
import { OAuthError } from './errors.js'
import type { KeyStore } from './keys/key-store.js'
import { discoveryRoute } from './routes/discovery.js'
import { healthRoute } from './routes/health.js'
import { jwksRoute } from './routes/jwks.js'
import type { Store } from './storage/connect.js'

export interface AppDeps {
  store: Store
  keys: KeyStore
  clock?: Clock
  logger?: FastifyServerOptions['logger']
}

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const app = Fastify({
    logger: deps.logger ?? false,
    trustProxy: false,
    bodyLimit: 64 * 1024,
  })
  void clock
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_request, reply) => sendJsonError(reply, new OAuthError('invalid_request', 'not found', { status: 404 })))

  await app.register(discoveryRoute, { config })
  await app.register(jwksRoute, { keys: deps.keys })
  await app.register(healthRoute, { store: deps.store })
  return app
}
