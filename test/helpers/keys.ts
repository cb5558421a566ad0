import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import type { SigningAlg } from '../../src/keys/key-file.js'
import { loadKeyStore, type KeyStore } from '../../src/keys/key-store.js'
import { generateKeyFile } from '../../src/keys/key-writer.js'

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

const multiStores = new Map<string, Promise<KeyStore>>()

/**
 * A KeyStore holding one current key of each algorithm latchkey signs with (RS256, ES256,
 * EdDSA), all signing since 2000, generated once per test process and name: for tests of
 * SIGNING_ALG=ES256 or EdDSA whose subject is not the key's creation.
 */
export function fixtureMultiAlgKeyStore(name = 'multi'): Promise<KeyStore> {
  let store = multiStores.get(name)
  if (store === undefined) {
    store = (async () => {
      const dir = join(await fixtureRoot(), `multi-${name}`)
      const clock = { now: () => FIXTURE_KEY_SINCE }
      const first = await loadKeyStore(dir, { clock })
      for (const alg of ['ES256', 'EdDSA'] as const) await generateKeyFile(dir, { alg, now: FIXTURE_KEY_SINCE, signsFrom: FIXTURE_KEY_SINCE })
      await first.reload()
      return first
    })()
    multiStores.set(name, store)
  }
  return store
}

async function fixtureRoot(): Promise<string> {
  if (keysRoot === undefined) {
    const root = mkdtempSync(join(tmpdir(), 'latchkey-test-keys-'))
    process.once('exit', () => rmSync(root, { recursive: true, force: true }))
    keysRoot = root
  }
  return keysRoot
}

const keyPairs = new Map<SigningAlg, Promise<{ privateKey: CryptoKey; publicJwk: JWK }>>()

/** A key pair of `alg` (not in any KEYS_DIR), generated once per test process: for resource-server tests. */
export function fixtureKeyPair(alg: SigningAlg): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  let pair = keyPairs.get(alg)
  if (pair === undefined) {
    pair = (async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
      return { privateKey, publicJwk: await exportJWK(publicKey) }
    })()
    keyPairs.set(alg, pair)
  }
  return pair
}
