import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { buildApp } from '../../src/app.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { KeyStore } from '../../src/keys/key-store.js'
import type { Store } from '../../src/storage/connect.js'
import { repositories, type Repositories } from '../../src/storage/repositories.js'
import type { SecondFactors } from '../../src/accounts/second-factors.js'
import { secondFactors } from '../../src/accounts/totp.js'
import { NO_AUDIT } from '../../src/audit.js'
import { FakeClock } from './clock.js'
import { dialectOf, type DialectCase } from './db.js'
import { fixtureKeyStore } from './keys.js'
import { testPasswords } from './passwords.js'

export interface TestApp {
  app: FastifyInstance
  config: Config
  store: Store
  keys: KeyStore
  clock: FakeClock
  repos: Repositories
  /** The app's authenticator apps and recovery codes, for tests that enrol a user directly. */
  secondFactors?: SecondFactors
}

/**
 * buildApp on a fresh in-memory SQLite (or the given dialect, or the eachDialect subtest's), the
 * process's fixture key (or the given key store), a fake clock and cheap password hashing.
 */
export async function buildTestApp(
  t: Test,
  options: { env?: Record<string, string>; dialect?: DialectCase; logger?: FastifyServerOptions['logger']; keys?: KeyStore } = {},
): Promise<TestApp> {
  const config = loadConfig({ ISSUER: 'http://localhost:3000', ...options.env })
  const store = await (options.dialect ?? dialectOf(t)).open(t)
  const keys = options.keys ?? (await fixtureKeyStore())
  const clock = new FakeClock()
  // A TOTP key of the test's own: never a totp.key in the working directory.
  const totpSecrets = keySecretBox(randomBytes(32))
  const app = await buildApp(config, { store, keys, clock, passwords: testPasswords, logger: options.logger, totpSecrets })
  t.teardown(() => app.close())
  const repos = repositories(store)
  // The app's own: the same key, so what a test enrols the app reads.
  const factors = secondFactors({ factors: repos.secondFactors, secrets: totpSecrets, clock, issuer: config.brand.name, audit: NO_AUDIT })
  return { app, config, store, keys, clock, repos, secondFactors: factors }
}

/** A pino stream that collects each log line, for tests that read the log. */
export function logLines(lines: string[]): { write(line: string): void } {
  return { write: (line: string) => void lines.push(line) }
}
