import { randomUUID } from 'node:crypto'
import fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { createResourceServer, type ResourceServer, type ResourceServerOptions } from './index.js'

export interface DemoOptions extends ResourceServerOptions {
  /** Log requests (without their query string, where a token might hide). Default false. */
  logger?: boolean
}

export interface Demo {
  app: FastifyInstance
  resourceServer: ResourceServer
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The demo API: built in-process by tests, listened on by demo.ts. */
export async function buildDemo(options: DemoOptions): Promise<Demo> {
  const { logger = false, resourceMetadata = { resourceName: 'latchkey demo API' }, ...resourceServerOptions } = options
  const app = fastify({
    logger: logger ? { serializers: { req: (request) => ({ method: request.method, url: request.url.split('?')[0] }) } } : false,
  })
  const resourceServer = createResourceServer({ ...resourceServerOptions, resourceMetadata })
  await app.register(resourceServer.plugin)

  // The same {error, error_description} shape as the bearer errors, for bad bodies and bugs.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(500).send({ error: 'server_error', error_description: 'internal server error' })
    }
    return reply.code(status).send({ error: 'invalid_request', error_description: error.message })
  })

  // onRequest: the token is checked before the body is even read.
  app.get('/api/me', { onRequest: resourceServer.requireScope() }, async (request) => {
    const { sub, scope, client_id } = request.auth!
    return { sub, scope: scope ?? '', client_id }
  })

  app.post('/api/sources', { onRequest: resourceServer.requireScope('source:w') }, async (request, reply) => {
    if (!isPlainObject(request.body)) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'body must be a JSON object' })
    }
    // id and created_by last, so the body cannot set them.
    return reply.code(201).send({ ...request.body, id: randomUUID(), created_by: request.auth!.sub })
  })

  return { app, resourceServer }
}
