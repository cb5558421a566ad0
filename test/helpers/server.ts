import { createServer } from 'node:net'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import type { Clock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import type { ConnectionLimits } from '../../src/http-server.js'
import { repositories } from '../../src/storage/repositories.js'
import type { TestApp } from './app.js'
import { FakeClock } from './clock.js'
import { randomBytes } from 'node:crypto'
import { secondFactors } from '../../src/accounts/totp.js'
import { NO_AUDIT } from '../../src/audit.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { dialectOf } from './db.js'
import { fixtureKeyStore } from './keys.js'
import { testPasswords } from './passwords.js'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * A real latchkey listening on 127.0.0.1, its issuer being its own address: the port is picked
 * first, because the issuer is configuration and must equal the origin clients reach it at.
 * Clients on the other side check exp against the real time, so the clock starts at real time
 * (a FakeClock, which tests may still advance) unless one is given. Its database: a fresh one of
 * the eachDialect subtest's dialect (SQLite outside one).
 */
export async function startLatchkey(
  t: Test,
  /** `issuerHost`: `localhost` where the browser needs a host name (WebAuthn refuses an IP address as RP ID). */
  options: { env?: Record<string, string>; clock?: Clock; connectionLimits?: ConnectionLimits; issuerHost?: 'localhost' } = {},
): Promise<TestApp & { issuer: string }> {
  const port = await freePort()
  const config = loadConfig({ ISSUER: `http://${options.issuerHost ?? '127.0.0.1'}:${port}`, ...options.env })
  const store = await dialectOf(t).open(t)
  const keys = await fixtureKeyStore()
  const clock = options.clock ?? new FakeClock(Date.now())
  const totpSecrets = keySecretBox(randomBytes(32))
  const app = await buildApp(config, { store, keys, clock, passwords: testPasswords, connectionLimits: options.connectionLimits, totpSecrets })
  t.teardown(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
    const repos = repositories(store)
  const factors = secondFactors({ factors: repos.secondFactors, secrets: totpSecrets, clock, issuer: config.brand.name, audit: NO_AUDIT })
  return { app, config, store, keys, clock: clock as FakeClock, repos, issuer: config.issuer, secondFactors: factors }
}
