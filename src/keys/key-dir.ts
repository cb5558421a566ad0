import type { KeyObject } from 'node:crypto'
import { lstat, open, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { compactVerify, importJWK, type JWK } from 'jose'
import { privateKeyObject, signCompactJws } from './jws.js'
import { KeyFileError, parseKeyFile, publicMembers, type KeyFile, type SigningAlg } from './key-file.js'
import { toTimes, type KeyTimes } from './key-timeline.js'

/** A key as served: the file, its times, the private key (a node:crypto KeyObject, see jws.ts) and the public JWK. */
export interface LoadedKey {
  file: KeyFile
  times: KeyTimes
  privateKey: KeyObject
  publicJwk: PublicJwk
  /** mtime, size and inode of the file it was read from: unchanged means not read again. */
  signature: string
}

export interface PublicJwk {
  kty: string
  kid: string
  alg: SigningAlg
  use: 'sig'
  n?: string
  e?: string
  crv?: string
  x?: string
  y?: string
}

/** A key file is a few KiB; anything larger is not one (and a device or FIFO is never read). */
const MAX_KEY_FILE_BYTES = 64 * 1024
const MIN_MODULUS_BITS = 2048

export interface KeyDirRead {
  /** By file name. */
  keys: Map<string, LoadedKey>
  /** Files that did not read or validate, with why (no key material in the message). */
  problems: Array<{ name: string; message: string }>
}

/**
 * Reads every `<kid>.json` in KEYS_DIR. A file whose mtime, size and inode match `previous`
 * is not read again. Only regular files (no symlinks, FIFOs or devices) up to 64 KiB are read.
 */
export async function readKeyDir(dir: string, previous: ReadonlyMap<string, LoadedKey> = new Map()): Promise<KeyDirRead> {
  const keys = new Map<string, LoadedKey>()
  const problems: KeyDirRead['problems'] = []
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
  for (const name of names) {
    const path = join(dir, name)
    try {
      const info = await lstat(path)
      if (!info.isFile()) throw new KeyFileError(`KEYS_DIR: ${path} is not a regular file; remove it`)
      if (info.size > MAX_KEY_FILE_BYTES) throw new KeyFileError(`KEYS_DIR: ${path} is larger than a key file can be; remove it`)
      const signature = `${info.mtimeMs}:${info.size}:${info.ino}`
      const old = previous.get(name)
      keys.set(name, old?.signature === signature ? old : await loadKey(path, await readSmallFile(path), signature))
    } catch (error) {
      // Gone between readdir and reading: not a problem, simply not there.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      const message = error instanceof KeyFileError ? error.message : `KEYS_DIR: ${path} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`
      problems.push({ name, message })
    }
  }
  return { keys, problems }
}

async function readSmallFile(path: string): Promise<string> {
  // O_NOFOLLOW-like: lstat said regular file; read at most the cap, whatever it grew to since.
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    if (bytesRead > MAX_KEY_FILE_BYTES) throw new KeyFileError(`KEYS_DIR: ${path} is larger than a key file can be; remove it`)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * Parses, imports and proves a key: the file is named after its kid, the key imports for its own
 * algorithm only, an RSA modulus really has 2048 bits or more, and the private key signs what
 * the public key verifies (so a file whose halves come from different keys is refused).
 */
async function loadKey(path: string, text: string, signature: string): Promise<LoadedKey> {
  const file = await parseKeyFile(path, text)
  const invalid = (why: string) => new KeyFileError(`KEYS_DIR: ${path} is not a valid key file (${why}); fix or remove it`)
  if (basename(path) !== `${file.kid}.json`) throw invalid(`it must be named ${file.kid}.json`)
  let privateKey: KeyObject
  const publicJwk = { ...publicMembers(file.private_jwk), kid: file.kid, alg: file.alg, use: 'sig' } as PublicJwk
  try {
    privateKey = privateKeyObject(file.private_jwk, file.alg)
  } catch {
    throw invalid(`private_jwk does not import as ${file.alg}`)
  }
  if (file.alg === 'RS256' && (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) {
    throw invalid('key shorter than 2048 bits')
  }
  try {
    // Signed the way tokens are (node:crypto), verified the way verifiers do (jose, the public JWK).
    const proof = signCompactJws({ alg: file.alg, privateKey }, { kid: file.kid, typ: 'JWT' }, { kid: file.kid })
    await compactVerify(proof, await importJWK(publicJwk as JWK, file.alg), { algorithms: [file.alg] })
  } catch {
    throw invalid('the private key does not match the public key')
  }
  return { file, times: toTimes(file), privateKey, publicJwk, signature }
}
