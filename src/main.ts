import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { loggerAudit } from './audit.js'
import { firstRunHint } from './first-run.js'
import { prettyLogStream } from './log-format.js'
import { KEYS_RELOAD_INTERVAL_MS, KeyFileError, keysDirWarnings, loadKeyStore } from './keys/key-store.js'
import { rotationPolicy } from './keys/key-timeline.js'
import { loadOrCreateTotpKey } from './keys/totp-key.js'
import { keySecretBox } from './keys/secret-box.js'
import { connect, databaseFileWarnings } from './storage/connect.js'
import { isUnconfigured } from './storage/first-run.js'
import { migrate } from './storage/migrate.js'
import { SHUTDOWN_GRACE_MS, shutDown } from './shutdown.js'

async function main(): Promise<void> {
  const config = loadConfig(process.env)
  // Read before connect() creates anything: only what existed before can be too open.
  const fileWarnings = databaseFileWarnings(config.database)
  const store = connect(config.database, { pool: config.databasePool })
  if (store.dialect === 'postgres') {
    // Migrations run outside DB_STATEMENT_TIMEOUT_MS: one may rightly take minutes on a large table.
    const unbounded = connect(config.database)
    try {
      await migrate(unbounded)
    } finally {
      await unbounded.close()
    }
  } else {
    await migrate(store)
  }
  const keys = await loadKeyStore(config.keysDir, { policy: rotationPolicy(config) })
  // Read (or made) at start, so a KEYS_DIR problem stops the start, not a user's enrolment.
  const totpSecrets = keySecretBox(await loadOrCreateTotpKey(config.keysDir))
  const keyWarnings = await keysDirWarnings(config.keysDir)
  const app = await buildApp(config, {
    store,
    keys,
    totpSecrets,
    // buildApp keeps query strings and headers out of the request lines; audit events are
    // written at any level.
    // A person at a terminal reads one line per request; anything else gets pino's JSON lines.
    logger: {
      level: config.logLevel,
      ...(process.stdout.isTTY ? { stream: prettyLogStream(process.stdout, { color: !process.env.NO_COLOR }) } : {}),
    },
  })
  for (const warning of [...fileWarnings, ...keyWarnings]) app.log.warn({ event: 'insecure_file' }, warning)
  // SIGNING_ALG naming an algorithm KEYS_DIR has no key of is a rotation: its key is published
  // now and signs after KEY_PUBLISH_DELAY; access tokens are RS256 until then.
  const audit = loggerAudit(app.log)
  const created = await keys.ensureKey(config.signingAlg, { policy: rotationPolicy(config), audit })
  if (created !== undefined) app.log.info({ event: 'signing_key_created', kid: created.kid, alg: created.alg, signsFrom: created.signs_from }, `SIGNING_ALG=${created.alg}: a new key is published now and signs access tokens from ${created.signs_from}`)
  // Every change in KEYS_DIR (a rotation by the CLI or another instance) is seen within seconds;
  // scheduled rotation runs here, under the KEYS_DIR lock.
  const stopWatchingKeys = keys.watch({
    intervalMs: KEYS_RELOAD_INTERVAL_MS,
    log: app.log,
    audit,
    rotation: config.keyRotationDays > 0 ? { days: config.keyRotationDays, policy: rotationPolicy(config) } : undefined,
    accessTokenAlg: { alg: config.signingAlg, policy: rotationPolicy(config) },
  })
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while stopping means: now.
    if (stopping) process.exit(1)
    stopping = true
    app.log.info({ event: 'shutdown', signal }, 'stopping: no new connections, finishing requests in flight')
    Promise.all([stopWatchingKeys(), shutDown({ app, store, graceMs: SHUTDOWN_GRACE_MS })]).then(
      ([, outcome]) => {
        app.log.info({ event: 'stopped', outcome }, 'stopped')
        process.exit(0)
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'failed to stop cleanly')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  await app.listen({ port: config.port, host: config.host })
  if (await isUnconfigured(store.db)) process.stderr.write(firstRunHint(config))
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof KeyFileError) {
    process.stderr.write(`latchkey: ${error.message}\n`)
  } else {
    process.stderr.write(`latchkey: failed to start: ${error instanceof Error ? error.message : String(error)}\n`)
  }
  process.exit(1)
})
