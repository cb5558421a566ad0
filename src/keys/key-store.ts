import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { KeyFileError, parseKeyFile, type KeyFile, type KeyStatus } from './key-file.js'

export { KeyFileError }

export interface PublicJwk {
  kty: 'RSA'
  n: string
  e: string
  kid: string
  alg: 'RS256'
  use: 'sig'
}

export interface KeyInfo {
  kid: string
  alg: 'RS256'
  status: KeyStatus
  created_at: string
}

export interface SigningKey {
  kid: string
  alg: 'RS256'
  privateKey: CryptoKey
}

export interface KeyStore {
  /** The key that signs now. */
  signingKey(): SigningKey
  /** Public parts of every key that is not retired (RFC 7517 JWK Set). */
  jwks(): { keys: PublicJwk[] }
  list(): KeyInfo[]
}

const LOCK_STALE_MS = 30_000
const LOCK_WAIT_MS = 10_000

/** Reads KEYS_DIR, generating a first RS256 key there when it holds none. */
export async function loadKeyStore(dir: string): Promise<KeyStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  let files = await readKeyFiles(dir)
  if (files.length === 0) {
    // Instances starting together on an empty KEYS_DIR must agree on one key.
    await withLock(join(dir, '.lock'), async () => {
      files = await readKeyFiles(dir)
      if (files.length === 0) files = [await generateKeyFile(dir)]
    })
  }
  return buildKeyStore(files)
}

async function readKeyFiles(dir: string): Promise<KeyFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
  return Promise.all(names.map(async (name) => parseKeyFile(join(dir, name), await readFile(join(dir, name), 'utf8'))))
}

async function buildKeyStore(files: KeyFile[]): Promise<KeyStore> {
  const current = files
    .filter((f) => f.status === 'current')
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))[0]
  if (!current) throw new KeyFileError('KEYS_DIR: no key has status "current"; set one key file\'s status to current')
  const privateKey = (await importJWK(current.private_jwk, 'RS256')) as CryptoKey
  const signing: SigningKey = { kid: current.kid, alg: 'RS256', privateKey }
  const published = { keys: files.filter((f) => f.status !== 'retired').map(publicJwk) }
  const infos = files.map(({ kid, alg, status, created_at }) => ({ kid, alg, status, created_at }))
  return {
    signingKey: () => signing,
    jwks: () => published,
    list: () => infos,
  }
}

function publicJwk(file: KeyFile): PublicJwk {
  return { kty: 'RSA', n: file.private_jwk.n as string, e: file.private_jwk.e as string, kid: file.kid, alg: 'RS256', use: 'sig' }
}

async function generateKeyFile(dir: string): Promise<KeyFile> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true })
  const jwk: JWK = await exportJWK(privateKey)
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e } as JWK, 'sha256')
  const file: KeyFile = { kid, alg: 'RS256', status: 'current', created_at: new Date().toISOString(), private_jwk: jwk }
  await writeFileAtomic(join(dir, `${kid}.json`), JSON.stringify(file, null, 2) + '\n')
  return file
}

/** Writes a 0600 temporary file, flushes it, then renames it into place. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
}

async function withLock(path: string, work: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0)
      if (age > LOCK_STALE_MS) await unlink(path).catch(() => {})
      if (Date.now() > deadline) throw new KeyFileError(`KEYS_DIR: ${path} is held by another process`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  try {
    await work()
  } finally {
    await unlink(path).catch(() => {})
  }
}

/** The keys in KEYS_DIR, without generating one (for `latchkey keys list`). */
export async function listKeys(dir: string): Promise<KeyInfo[]> {
  let files: KeyFile[]
  try {
    files = await readKeyFiles(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return files.map(({ kid, alg, status, created_at }) => ({ kid, alg, status, created_at }))
}
