import type { FastifyPluginAsync } from 'fastify'
import type { Store } from '../storage/connect.js'

const PING_TIMEOUT_MS = 2000

export const healthRoute: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get('/healthz', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database ping timed out')), PING_TIMEOUT_MS)
    })
    try {
      await Promise.race([store.ping(), timeout])
      return { status: 'ok', database: 'ok' }
    } catch (error) {
      request.log.warn({ err: error }, 'database unreachable')
      return reply.code(503).send({ status: 'unavailable', database: 'unreachable' })
    } finally {
      clearTimeout(timer)
    }
  })
}
