import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { KeyFileError, loadKeyStore } from './keys/key-store.js'
import { connect, databaseFileWarnings } from './storage/connect.js'
import { migrate } from './storage/migrate.js'

async function main(): Promise<void> {
  const config = loadConfig(process.env)
  // Read before connect() creates anything: only what existed before can be too open.
  const fileWarnings = databaseFileWarnings(config.database)
  const store = connect(config.database)
  await migrate(store)
  const keys = await loadKeyStore(config.keysDir)
  const app = await buildApp(config, {
    store,
    keys,
    // buildApp keeps query strings and headers out of the request lines.
    logger: { level: 'info' },
  })
  for (const warning of fileWarnings) app.log.warn({ event: 'insecure_file' }, warning)
  const shutdown = async () => {
    await app.close()
    await store.close()
    process.exit(0)
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  await app.listen({ port: config.port, host: config.host })
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof KeyFileError) {
    process.stderr.write(`latchkey: ${error.message}\n`)
  } else {
    process.stderr.write(`latchkey: failed to start: ${error instanceof Error ? error.message : String(error)}\n`)
  }
  process.exit(1)
})
