import type { BearerError } from './errors.js'
import { buildDemo } from './demo-app.js'

// The one file of the module that reads the environment.
const env = process.env
const issuer = env.ISSUER ?? 'http://localhost:3000'

try {
  const port = Number(env.RS_PORT ?? 4000)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('RS_PORT must be an integer port number (0-65535)')
  const { app, resourceServer } = await buildDemo({ issuer, audience: env.AUDIENCE ?? 'http://localhost:4000', logger: true })
  await app.listen({ port, host: env.HOST ?? '127.0.0.1' })
  // Not fatal: the keys are fetched again when the first token arrives.
  resourceServer.ready().catch((error: BearerError) => app.log.warn({ err: error.cause }, `${error.description} (${issuer})`))
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void app.close().then(() => process.exit(0)))
  }
} catch (error) {
  process.stderr.write(`resource server failed to start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
