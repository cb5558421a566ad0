import type { KeyObject } from 'node:crypto'
import { mkdir, stat } from 'node:fs/promises'
import type { AuditLog } from '../audit.js'
import { systemClock, type Clock } from '../clock.js'
import { readKeyDir, type LoadedKey, type PublicJwk } from './key-dir.js'
import { KeyFileError, type KeyFile, type KeyStatus, type SigningAlg } from './key-file.js'
import { accessTokenSigner, rotationDue, signingAlgs, signsThroughout, statusesAt, toTimes, type RotationPolicy } from './key-timeline.js'
import { generateKeyFile, KEYS_LOCK, recordPolicy, rotateKeys, withLock, type WrittenKey } from './key-writer.js'
import { TOTP_KEY_FILE } from './totp-key.js'

export { KeyFileError, KEYS_LOCK, type PublicJwk }

/** A key as `latchkey keys list` shows it. */
export interface KeyInfo {
  kid: string
  alg: SigningAlg
  status: KeyStatus
  created_at: string
  signs_from: string
  retires_at: string | null
}

/** What signs: pass it to signCompactJws (jws.ts). */
export interface SigningKey {
  kid: string
  alg: SigningAlg
  privateKey: KeyObject
}

export interface KeyStore {
  /** The key of `alg` that signs at `at` (default: now). */
  signingKey(alg?: SigningAlg, at?: number): SigningKey
  /**
   * The key access tokens are signed with when SIGNING_ALG is `alg`: its current key, or the
   * current RS256 key while `alg` has none yet (its first key is published, not yet signing).
   */
  accessTokenKey(alg: SigningAlg, at?: number): SigningKey
  /**
   * Creates a key of `alg` when KEYS_DIR has none (published or waiting), under the KEYS_DIR
   * lock and checked again once it is held, so instances starting together create one. It
   * signs after the publish delay. Returns the key created, if any.
   */
  ensureKey(alg: SigningAlg, options: { policy: RotationPolicy; audit: AuditLog }): Promise<WrittenKey | undefined>
  /** Public parts of every key published at `at`: next, current and previous (RFC 7517 JWK Set). */
  jwks(at?: number): { keys: PublicJwk[] }
  list(at?: number): KeyInfo[]
  /** Reads KEYS_DIR again; a file that does not read or validate is ignored with a log line. */
  reload(): Promise<void>
  /**
   * For a verifier that met an unknown kid: reads KEYS_DIR again unless that was done within the
   * last 250 ms, so a token signed by a key another instance just created verifies here too.
   */
  refresh(): Promise<void>
  /**
   * Reloads every `intervalMs` and, when `rotation` is given, rotates each algorithm that has a
   * current key when its newest key is `days` old (under the KEYS_DIR lock, so one instance of
   * several does it). With `accessTokenAlg`, a key of it is created again should KEYS_DIR lose
   * every one (`keys retire`). Returns the stop.
   */
  /** Starts watching; the function it returns stops, resolving once a check in progress has ended. */
  watch(options: WatchOptions): () => Promise<void>
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
  /** SIGNING_ALG, and the policy its key is created with (see ensureKey). */
  accessTokenAlg?: { alg: SigningAlg; policy: RotationPolicy } | undefined
}

/** Within this, every running server sees a change in KEYS_DIR (the contract says 5 s). */
export const KEYS_RELOAD_INTERVAL_MS = 1_000
const REFRESH_MIN_INTERVAL_MS = 250
/** After a scheduled rotation attempt that did nothing or failed, the next waits this long. */
const ROTATION_RETRY_MS = 60_000

/** The algorithm of ID tokens and of the key generated on first start. */
const DEFAULT_ALG: SigningAlg = 'RS256'

/**
 * Reads KEYS_DIR, generating a first RS256 key there when it holds none. At start a file that
 * does not validate is an error naming it (it is never replaced: that would silently invalidate
 * what it signed); once running, such a file is ignored with a log line. With `policy`, records
 * this server's retention and publish delay in KEYS_DIR for `keys rotate` to honour.
 */
export async function loadKeyStore(dir: string, options: { clock?: Clock; policy?: RotationPolicy } = {}): Promise<KeyStore> {
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
  if (options.policy !== undefined) await recordPolicy(dir, options.policy)
  return new DirectoryKeyStore(dir, clock, loaded)
}

async function readStrict(dir: string): Promise<Map<string, LoadedKey>> {
  const { keys, problems } = await readKeyDir(dir)
  if (problems.length > 0) throw new KeyFileError(problems[0]!.message)
  return keys
}

function currentOf(loaded: ReadonlyMap<string, LoadedKey>, alg: SigningAlg, now: number): LoadedKey | undefined {
  const keys = [...loaded.values()]
  const statuses = statusesAt(keys.map((k) => k.times), now)
  return keys.find((k) => k.file.alg === alg && statuses.get(k.file.kid) === 'current')
}

/** Warnings for a KEYS_DIR (or key file in it) that others can read or write: the server logs them at start. */
export async function keysDirWarnings(dir: string): Promise<string[]> {
  const warnings: string[] = []
  const { keys } = await readKeyDir(dir)
  // totp.key (src/keys/totp-key.ts) encrypts authenticator-app secrets: as private as a signing key.
  for (const path of [dir, ...[...keys.keys(), TOTP_KEY_FILE].map((name) => `${dir}/${name}`)]) {
    const mode = (await stat(path).catch(() => undefined))?.mode
    if (mode !== undefined && (mode & 0o077) !== 0) {
      warnings.push(`${path} has mode 0${(mode & 0o777).toString(8)}: others can read or plant signing keys; chmod ${path === dir ? 700 : 600} ${path}`)
    }
  }
  return warnings
}

class DirectoryKeyStore implements KeyStore {
  /** Rebuilt only when the published set changes, so callers can cache by identity. */
  private published: { at: string; jwks: { keys: PublicJwk[] } } | undefined
  private reloading: Promise<void> | undefined
  private lastRefresh = -Infinity
  /** Problems already reported, so one bad file logs once. */
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

  accessTokenKey(alg: SigningAlg, at = this.clock.now()): SigningKey {
    const times = accessTokenSigner([...this.loaded.values()].map((k) => k.times), at, alg)
    if (times === undefined) throw new KeyFileError(`KEYS_DIR: no ${alg} or ${DEFAULT_ALG} key signs now`)
    return this.signingKey(times.alg, at)
  }

  async ensureKey(alg: SigningAlg, options: { policy: RotationPolicy; audit: AuditLog }): Promise<WrittenKey | undefined> {
    const now = this.clock.now()
    const statuses = statusesAt([...this.loaded.values()].map((k) => k.times), now)
    if ([...this.loaded.values()].some((k) => k.file.alg === alg && statuses.get(k.file.kid) !== 'retired')) return undefined
    const created = await rotateKeys(this.dir, {
      now: () => this.clock.now(),
      alg,
      immediate: false,
      policy: options.policy,
      onlyIfMissing: true,
      audit: options.audit,
      warn: (message) => this.report('warn', 'key_file_ignored', message),
    })
    await this.reload()
    return created
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

  refresh(): Promise<void> {
    const now = Date.now()
    if (this.reloading === undefined && now - this.lastRefresh < REFRESH_MIN_INTERVAL_MS) return Promise.resolve()
    this.lastRefresh = now
    return this.reload()
  }

  private report(level: 'warn' | 'error', event: string, message: string, details: Record<string, unknown> = {}): void {
    if (this.reported.has(message)) return
    this.reported.add(message)
    this.log?.[level]({ event, ...details }, message)
  }

  private async readChanges(): Promise<void> {
    let read: Awaited<ReturnType<typeof readKeyDir>>
    try {
      read = await readKeyDir(this.dir, this.loaded)
    } catch (error) {
      this.report('error', 'keys_reload_failed', `KEYS_DIR ${this.dir} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); the loaded keys stay in use`)
      return
    }
    const next = read.keys
    for (const { name, message } of read.problems) {
      // Half-written by something other than latchkey, or corrupt: the key this name held stays.
      this.report('warn', 'key_file_ignored', message, { file: name })
      const old = this.loaded.get(name)
      if (old !== undefined) next.set(name, old)
    }
    if (!signsThroughout([...next.values()].map((k) => k.times), this.clock.now(), DEFAULT_ALG)) {
      // E.g. the current key was told it is superseded, but its successor does not read: applying
      // that would stop signing when the old key retires.
      this.report('error', 'keys_reload_refused', `KEYS_DIR: with these files no ${DEFAULT_ALG} key would sign at some point; the loaded keys stay in use`)
      return
    }
    this.loaded = next
  }

  watch(options: WatchOptions): () => Promise<void> {
    this.log = options.log
    let running: Promise<void> | undefined
    let nextRotationCheck = 0
    const tick = () => (running ??= check().finally(() => (running = undefined)))
    const check = async () => {
      try {
        await this.reload()
        if ((options.rotation !== undefined || options.accessTokenAlg !== undefined) && Date.now() >= nextRotationCheck) {
          let settled = true
          if (options.rotation !== undefined) settled = await this.rotateIfDue(options.rotation, options)
          if (options.accessTokenAlg !== undefined) await this.ensureKey(options.accessTokenAlg.alg, { policy: options.accessTokenAlg.policy, audit: options.audit })
          if (!settled) nextRotationCheck = Date.now() + ROTATION_RETRY_MS
        }
      } catch (error) {
        nextRotationCheck = Date.now() + ROTATION_RETRY_MS
        options.log.error({ event: 'keys_watch_failed', err: error }, 'scheduled key rotation failed; will retry in a minute')
      }
    }
    const timer = setInterval(() => void tick(), options.intervalMs)
    timer.unref()
    void tick()
    // A rotation in progress finishes (its key file and the lock) before a shutdown goes on.
    return async () => {
      clearInterval(timer)
      await running
    }
  }

  /**
   * Rotates, one after the other, every algorithm that has a current key and whose newest key is
   * due. True when nothing was due or everything due was done; false when something due was
   * not written (retry later).
   */
  private async rotateIfDue(rotation: { days: number; policy: RotationPolicy }, options: WatchOptions): Promise<boolean> {
    const times = () => [...this.loaded.values()].map((k) => k.times)
    let settled = true
    for (const alg of signingAlgs(times(), this.clock.now())) {
      if (!rotationDue(times(), this.clock.now(), alg, rotation.days)) continue
      // rotateKeys reads the directory again under the lock: of several instances, the first
      // rotates and the others find the new key and do nothing.
      const created = await rotateKeys(this.dir, {
        now: () => this.clock.now(),
        alg,
        immediate: false,
        policy: rotation.policy,
        onlyIfDue: rotation.days,
        audit: options.audit,
        warn: (message) => this.report('warn', 'key_file_ignored', message),
      })
      await this.reload()
      if (created === undefined && rotationDue(times(), this.clock.now(), alg, rotation.days)) settled = false
    }
    return settled
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
