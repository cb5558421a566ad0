import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { importJWK, type CryptoKey } from 'jose'
import type { AuditLog } from '../audit.js'
import { systemClock, type Clock } from '../clock.js'
import { KeyFileError, parseKeyFile, publicMembers, type KeyFile, type KeyStatus, type SigningAlg } from './key-file.js'
import { generateKeyFile, KEYS_LOCK, rotateKeys, toTimes, withLock } from './key-writer.js'
import { rotationDue, statusesAt, type KeyTimes, type RotationPolicy } from './key-timeline.js'

export { KeyFileError }

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

/** A key as `latchkey keys list` shows it. */
export interface KeyInfo {
  kid: string
  alg: SigningAlg
  status: KeyStatus
  created_at: string
  signs_from: string
  retires_at: string | null
}

export interface SigningKey {
  kid: string
  alg: SigningAlg
  privateKey: CryptoKey
}

export interface KeyStore {
  /** The key of `alg` that signs at `at` (default: now). */
  signingKey(alg?: SigningAlg, at?: number): SigningKey
  /** Public parts of every key published at `at`: next, current and previous (RFC 7517 JWK Set). */
  jwks(at?: number): { keys: PublicJwk[] }
  list(at?: number): KeyInfo[]
  /** Reads KEYS_DIR again; a file that does not read or validate is ignored with a log line. */
  reload(): Promise<void>
  /**
   * Reloads every `intervalMs` and, when `rotation` is given, rotates when the newest key is
   * `days` old (under the KEYS_DIR lock, so one instance of several does it). Returns the stop.
   */
  watch(options: WatchOptions): () => void
}

/** pino's shape, as much as the key store uses. */
export interface KeyLog {
  info(details: Record<string, unknown>, message: string): void
  warn(details: Record<string, unknown>, message: string): void
  error(details: Record<string, unknown>, message: string): void
}

export interface WatchOptions {
  intervalMs: number
  log: KeyLog
  audit: AuditLog
  rotation?: { days: number; policy: RotationPolicy } | undefined
}

/** Within this, every running server sees a change in KEYS_DIR (the contract says 5 s). */
export const KEYS_RELOAD_INTERVAL_MS = 1_000

/** The algorithm of ID tokens and of the key generated on first start. */
const DEFAULT_ALG: SigningAlg = 'RS256'

interface LoadedKey {
  file: KeyFile
  times: KeyTimes
  privateKey: CryptoKey
  publicJwk: PublicJwk
  /** mtime, size and inode of the file it was read from: unchanged means not read again. */
  signature: string
}

/**
 * Reads KEYS_DIR, generating a first RS256 key there when it holds none. At start a file that
 * does not validate is an error naming it (it is never replaced: that would silently invalidate
 * what it signed); once running, such a file is ignored with a log line.
 */
export async function loadKeyStore(dir: string, options: { clock?: Clock } = {}): Promise<KeyStore> {
  const clock = options.clock ?? systemClock
  await mkdir(dir, { recursive: true, mode: 0o700 })
  let loaded = await readStrict(dir)
  if (loaded.size === 0) {
    // Instances starting together on an empty KEYS_DIR must agree on one key.
    await withLock(dir, async () => {
      loaded = await readStrict(dir)
      if (loaded.size === 0) await generateKeyFile(dir, { alg: DEFAULT_ALG, now: clock.now(), signsFrom: clock.now() })
    })
    loaded = await readStrict(dir)
  }
  if (currentOf(loaded, DEFAULT_ALG, clock.now()) === undefined) {
    throw new KeyFileError(`KEYS_DIR: no ${DEFAULT_ALG} key signs now (every key is next or retired); run \`latchkey keys rotate --now\``)
  }
  return new DirectoryKeyStore(dir, clock, loaded)
}

async function readStrict(dir: string): Promise<Map<string, LoadedKey>> {
  const loaded = new Map<string, LoadedKey>()
  for (const name of await keyFileNames(dir)) {
    const path = join(dir, name)
    const info = await stat(path)
    loaded.set(name, await loadKey(path, await readFile(path, 'utf8'), signatureOf(info)))
  }
  return loaded
}

async function keyFileNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
}

function signatureOf(info: { mtimeMs: number; size: number; ino: number }): string {
  return `${info.mtimeMs}:${info.size}:${info.ino}`
}

async function loadKey(path: string, text: string, signature: string): Promise<LoadedKey> {
  const file = await parseKeyFile(path, text)
  let privateKey: CryptoKey
  try {
    privateKey = (await importJWK(file.private_jwk, file.alg)) as CryptoKey
  } catch {
    throw new KeyFileError(`KEYS_DIR: ${path} is not a valid key file (private_jwk does not import as ${file.alg}); fix or remove it`)
  }
  const publicJwk = { ...publicMembers(file.private_jwk), kid: file.kid, alg: file.alg, use: 'sig' } as PublicJwk
  return { file, times: toTimes(file), privateKey, publicJwk, signature }
}

function currentOf(loaded: Map<string, LoadedKey>, alg: SigningAlg, now: number): LoadedKey | undefined {
  const keys = [...loaded.values()]
  const statuses = statusesAt(keys.map((k) => k.times), now)
  return keys.find((k) => k.file.alg === alg && statuses.get(k.file.kid) === 'current')
}

class DirectoryKeyStore implements KeyStore {
  /** Rebuilt only when the published set changes, so callers can cache by identity. */
  private published: { at: string; jwks: { keys: PublicJwk[] } } | undefined
  private reloading: Promise<void> | undefined
  /** Signatures of files already reported as unreadable, so one bad file logs once. */
  private readonly reported = new Set<string>()
  private log: KeyLog | undefined

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private loaded: Map<string, LoadedKey>,
  ) {}

  signingKey(alg: SigningAlg = DEFAULT_ALG, at = this.clock.now()): SigningKey {
    const key = currentOf(this.loaded, alg, at)
    if (key === undefined) throw new KeyFileError(`KEYS_DIR: no ${alg} key signs now`)
    return { kid: key.file.kid, alg: key.file.alg, privateKey: key.privateKey }
  }

  jwks(at = this.clock.now()): { keys: PublicJwk[] } {
    const keys = [...this.loaded.values()]
    const statuses = statusesAt(keys.map((k) => k.times), at)
    const published = keys.filter((k) => statuses.get(k.file.kid) !== 'retired')
    const id = published.map((k) => k.file.kid).join(' ')
    if (this.published?.at !== id) this.published = { at: id, jwks: { keys: published.map((k) => k.publicJwk) } }
    return this.published.jwks
  }

  list(at = this.clock.now()): KeyInfo[] {
    return keyInfos([...this.loaded.values()].map((k) => k.file), at)
  }

  reload(): Promise<void> {
    this.reloading ??= this.readChanges().finally(() => {
      this.reloading = undefined
    })
    return this.reloading
  }

  private async readChanges(): Promise<void> {
    const byName = new Map<string, LoadedKey>()
    let names: string[]
    try {
      names = await keyFileNames(this.dir)
    } catch (error) {
      this.log?.error({ event: 'keys_reload_failed', err: error }, `KEYS_DIR ${this.dir} could not be read; the loaded keys stay in use`)
      return
    }
    for (const name of names) {
      const path = join(this.dir, name)
      const old = this.loaded.get(name)
      try {
        const signature = signatureOf(await stat(path))
        byName.set(name, old?.signature === signature ? old : await loadKey(path, await readFile(path, 'utf8'), signature))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
        // Half-written (by something other than latchkey) or corrupt: keep what this name held.
        const report = `${name}:${error instanceof Error ? error.message : String(error)}`
        if (!this.reported.has(report)) {
          this.reported.add(report)
          this.log?.warn({ event: 'key_file_ignored', file: name }, error instanceof KeyFileError ? error.message : `KEYS_DIR: ${name} could not be read`)
        }
        if (old !== undefined) byName.set(name, old)
      }
    }
    if (currentOf(byName, DEFAULT_ALG, this.clock.now()) === undefined) {
      this.log?.error({ event: 'keys_reload_refused' }, `KEYS_DIR: no ${DEFAULT_ALG} key would sign now; the loaded keys stay in use`)
      return
    }
    this.loaded = byName
  }

  watch(options: WatchOptions): () => void {
    this.log = options.log
    let busy = false
    const tick = async () => {
      if (busy) return
      busy = true
      try {
        await this.reload()
        if (options.rotation !== undefined) await this.rotateIfDue(options.rotation, options)
      } catch (error) {
        options.log.error({ event: 'keys_watch_failed', err: error }, 'key reload or scheduled rotation failed; will retry')
      } finally {
        busy = false
      }
    }
    const timer = setInterval(() => void tick(), options.intervalMs)
    timer.unref()
    void tick()
    return () => clearInterval(timer)
  }

  private async rotateIfDue(rotation: { days: number; policy: RotationPolicy }, options: WatchOptions): Promise<void> {
    const times = [...this.loaded.values()].map((k) => k.times)
    if (!rotationDue(times, this.clock.now(), DEFAULT_ALG, rotation.days)) return
    // rotateKeys reads the directory again under the lock: of several instances, the first
    // rotates and the others find the new key and do nothing.
    const created = await rotateKeys(this.dir, {
      now: () => this.clock.now(),
      alg: DEFAULT_ALG,
      immediate: false,
      policy: rotation.policy,
      onlyIfDue: rotation.days,
      audit: options.audit,
    })
    if (created !== undefined) await this.reload()
  }
}

/** Each key as `keys list` shows it, oldest first. */
export function keyInfos(files: readonly KeyFile[], now: number): KeyInfo[] {
  const statuses = statusesAt(files.map(toTimes), now)
  return [...files]
    .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.kid.localeCompare(b.kid))
    .map((f) => ({
      kid: f.kid,
      alg: f.alg,
      status: statuses.get(f.kid) as KeyStatus,
      created_at: f.created_at,
      signs_from: f.signs_from,
      retires_at: f.retires_at,
    }))
}

/** The keys in KEYS_DIR, without generating one (for `latchkey keys list`). */
export async function listKeys(dir: string, now: number): Promise<KeyInfo[]> {
  let loaded: Map<string, LoadedKey>
  try {
    loaded = await readStrict(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return keyInfos([...loaded.values()].map((k) => k.file), now)
}

export { KEYS_LOCK }
