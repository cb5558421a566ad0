import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKeyStore, type KeyStore } from '../../src/keys/key-store.js'

const FIXTURE_KEY_SINCE = Date.UTC(2000, 0, 1)
let keysRoot: string | undefined
const stores = new Map<string, Promise<KeyStore>>()

/**
 * A KeyStore holding one RS256 key, generated once per test process and name: generating a
 * 2048-bit key costs more than most tests, and a KeyStore never changes once loaded, so tests
 * can share it. Different names are different keys (for a foreign or a second key).
 * Tests whose subject is key generation (test/unit/keys.test.ts, the start-up e2e) call
 * loadKeyStore on an empty directory instead.
 */
export function fixtureKeyStore(name = 'latchkey'): Promise<KeyStore> {
  let store = stores.get(name)
  if (store === undefined) {
    if (keysRoot === undefined) {
      const root = mkdtempSync(join(tmpdir(), 'latchkey-test-keys-'))
      process.once('exit', () => rmSync(root, { recursive: true, force: true }))
      keysRoot = root
    }
    // Signing since 2000, so the fake clocks of tests (set in 2026) find it current.
    store = loadKeyStore(join(keysRoot, name), { clock: { now: () => FIXTURE_KEY_SINCE } })
    stores.set(name, store)
  }
  return store
}
