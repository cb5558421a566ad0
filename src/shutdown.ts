import type { FastifyInstance } from 'fastify'

/** How long requests in flight may take to finish once a stop is asked for. */
export const SHUTDOWN_GRACE_MS = 10_000

export type ShutdownOutcome = 'clean' | 'forced'

/**
 * SIGTERM or SIGINT: stop accepting connections, let the requests in flight finish (idle
 * keep-alive connections close at once; busy ones after their response, with
 * `Connection: close`), cut whatever is still running after `graceMs`, then close the database.
 * The app's onClose hooks (the purge timer among them) run as part of app.close().
 */
export async function shutDown(deps: { app: FastifyInstance; store: { close(): Promise<void> }; graceMs: number }): Promise<ShutdownOutcome> {
  const { app } = deps
  let timer: NodeJS.Timeout | undefined
  const graceOver = new Promise<'forced'>((resolve) => {
    timer = setTimeout(() => resolve('forced'), deps.graceMs)
  })
  const closed = app.close().then(() => 'clean' as const)
  // A connection busy when the stop began turns idle after its response; Node's close() only
  // closed the connections idle at that moment, so keep closing the newly idle ones.
  const sweeper = setInterval(() => app.server.closeIdleConnections(), 50)
  const outcome = await Promise.race([closed, graceOver])
  clearTimeout(timer)
  clearInterval(sweeper)
  if (outcome === 'forced') {
    app.log.warn({ event: 'shutdown_forced', graceMs: deps.graceMs }, 'requests still running after the grace period were cut off')
    app.server.closeAllConnections()
    await closed
  }
  await deps.store.close()
  return outcome
}
