import { randomBytes } from 'node:crypto'
import { chown, mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import type { AuditLog } from '../audit.js'
import { readKeyDir } from './key-dir.js'
import { KeyFileError, keyThumbprint, type KeyFile, type SigningAlg } from './key-file.js'
import { planRetire, planRotation, rotationDue, statusesAt, toTimes, type KeyUpdate, type RotationPolicy } from './key-timeline.js'

/** The lock file that serialises every change to KEYS_DIR (first key, rotation, retirement). */
export const KEYS_LOCK = '.lock'
/** The longest retention and publish delay any instance sharing KEYS_DIR runs with. */
export const KEYS_POLICY = '.policy.json'
/** A holder refreshes its lock's mtime every LOCK_HEARTBEAT_MS; one not refreshed for LOCK_STALE_MS is a crashed holder's. */
const LOCK_HEARTBEAT_MS = 2_000
const LOCK_STALE_MS = 15_000
const LOCK_WAIT_MS = 20_000
/** A temporary file this old is left over from a crash. */
const STALE_TMP_MS = 60_000

const iso = (ms: number) => new Date(ms).toISOString()

/** What `keys rotate` and `keys retire` print of a key. */
export interface WrittenKey {
  kid: string
  alg: SigningAlg
  status: 'next' | 'current' | 'previous' | 'retired'
  created_at: string
  signs_from: string
  retires_at: string | null
}

/** Where the writer reports files it skipped (they do not read or validate). */
export type Warn = (message: string) => void

/**
 * Writes a 0600 temporary file, flushes it, renames it into place and flushes the directory:
 * readers never see half a key, and a finished write survives a crash. Run as root on a
 * directory someone else owns (the server's user), the file is given to the directory's owner,
 * so the server can read what `sudo latchkey keys …` wrote.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
    const owner = await stat(dirname(path))
    if (process.getuid?.() === 0 && owner.uid !== 0) await chown(tmp, owner.uid, owner.gid)
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  const directory = await open(dirname(path), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

async function writeKeyFile(dir: string, file: KeyFile): Promise<void> {
  await writeFileAtomic(join(dir, `${file.kid}.json`), JSON.stringify(file, null, 2) + '\n')
}

async function newKeyPair(alg: SigningAlg): Promise<JWK> {
  const { privateKey } =
    alg === 'RS256'
      ? await generateKeyPair('RS256', { modulusLength: 2048, extractable: true })
      : alg === 'ES256'
        ? await generateKeyPair('ES256', { extractable: true })
        : await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  return exportJWK(privateKey)
}

/** Generates a key of `alg` and writes it to KEYS_DIR; the caller holds the lock. */
export async function generateKeyFile(dir: string, options: { alg: SigningAlg; now: number; signsFrom: number }): Promise<KeyFile> {
  const jwk = await newKeyPair(options.alg)
  const file: KeyFile = {
    kid: await keyThumbprint(jwk),
    alg: options.alg,
    created_at: iso(options.now),
    signs_from: iso(options.signsFrom),
    superseded_at: null,
    retires_at: null,
    private_jwk: jwk,
  }
  await writeKeyFile(dir, file)
  return file
}

/**
 * Runs `work` holding KEYS_DIR's lock file. The lock holds a random token (only its holder
 * removes it) and its mtime is refreshed while the work runs; a lock not refreshed for 15 s is a
 * crashed holder's and is broken by renaming it away, which only one of several waiters can do.
 */
export async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await refuseForeignOwner(dir)
  const path = join(dir, KEYS_LOCK)
  const token = randomBytes(16).toString('hex')
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(token)
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0)
      if (age > LOCK_STALE_MS) {
        const away = `${path}.stale.${token}`
        // rename is atomic: of several waiters, one moves the stale lock; the others find it gone.
        if (await rename(path, away).then(() => true, () => false)) await unlink(away).catch(() => {})
        continue
      }
      if (Date.now() > deadline) throw new KeyFileError(`KEYS_DIR: ${path} is held by another process`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const heartbeat = setInterval(() => {
    const now = new Date()
    void utimes(path, now, now).catch(() => {})
  }, LOCK_HEARTBEAT_MS)
  heartbeat.unref()
  try {
    await removeStaleTemporaryFiles(dir)
    return await work()
  } finally {
    clearInterval(heartbeat)
    // Only our own lock: had it been broken, the file there now is someone else's.
    if ((await readFile(path, 'utf8').catch(() => '')) === token) await unlink(path).catch(() => {})
  }
}

/** A key file written by another user would be unreadable (0600) to the server: refused up front. */
async function refuseForeignOwner(dir: string): Promise<void> {
  const uid = process.getuid?.()
  if (uid === undefined || uid === 0) return
  const owner = (await stat(dir)).uid
  if (owner !== uid) throw new KeyFileError(`KEYS_DIR: ${dir} belongs to uid ${owner}; run this as that user (or root), so the server can read the files written`)
}

async function removeStaleTemporaryFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.tmp')) continue
    const path = join(dir, name)
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0)
    if (age > STALE_TMP_MS) await unlink(path).catch(() => {})
  }
}

/** Every key file that reads; the others are reported and left alone, so one stray file never blocks a retirement. */
async function readAll(dir: string, warn: Warn): Promise<KeyFile[]> {
  const { keys, problems } = await readKeyDir(dir)
  for (const problem of problems) warn(`${problem.message} (skipped)`)
  return [...keys.values()].map((k) => k.file)
}

async function applyUpdates(dir: string, files: readonly KeyFile[], updates: readonly KeyUpdate[]): Promise<void> {
  for (const update of updates) {
    const file = files.find((f) => f.kid === update.kid)!
    await writeKeyFile(dir, {
      ...file,
      signs_from: iso(update.signsFrom),
      superseded_at: update.supersededAt === null ? null : iso(update.supersededAt),
      retires_at: update.retiresAt === null ? null : iso(update.retiresAt),
    })
  }
}

function describe(file: KeyFile, files: readonly KeyFile[], at: number): WrittenKey {
  const status = statusesAt(files.map(toTimes), at).get(file.kid)!
  return { kid: file.kid, alg: file.alg, status, created_at: file.created_at, signs_from: file.signs_from, retires_at: file.retires_at }
}

/** Whether a key of `alg` is published or waiting to sign at `now` (not retired). */
export function hasKeyOf(files: readonly KeyFile[], alg: SigningAlg, now: number): boolean {
  const statuses = statusesAt(files.map(toTimes), now)
  return files.some((f) => f.alg === alg && statuses.get(f.kid) !== 'retired')
}

/** The policy every writer uses: the longest of its own and the one recorded by running servers. */
async function effectivePolicy(dir: string, own: RotationPolicy): Promise<RotationPolicy> {
  const recorded = await readPolicy(dir)
  if (recorded === undefined) return own
  return {
    publishDelaySeconds: Math.max(own.publishDelaySeconds, recorded.publishDelaySeconds),
    retentionSeconds: Math.max(own.retentionSeconds, recorded.retentionSeconds),
  }
}

async function readPolicy(dir: string): Promise<RotationPolicy | undefined> {
  try {
    const data = JSON.parse(await readFile(join(dir, KEYS_POLICY), 'utf8')) as Record<string, unknown>
    const { publish_delay_seconds: delay, retention_seconds: retention } = data
    if (typeof delay !== 'number' || typeof retention !== 'number' || !(delay >= 0) || !(retention >= 0)) return undefined
    return { publishDelaySeconds: delay, retentionSeconds: retention }
  } catch {
    return undefined
  }
}

/**
 * Records a server's policy in KEYS_DIR (the longest of all recorded), so `keys rotate` run with
 * a shorter ACCESS_TOKEN_TTL in its environment still keeps the old key as long as the servers need.
 */
export async function recordPolicy(dir: string, own: RotationPolicy): Promise<void> {
  await withLock(dir, async () => {
    const merged = await effectivePolicy(dir, own)
    const recorded = await readPolicy(dir)
    if (recorded?.publishDelaySeconds === merged.publishDelaySeconds && recorded.retentionSeconds === merged.retentionSeconds) return
    const text = JSON.stringify({ publish_delay_seconds: merged.publishDelaySeconds, retention_seconds: merged.retentionSeconds }, null, 2) + '\n'
    await writeFileAtomic(join(dir, KEYS_POLICY), text)
  })
}

/**
 * Adds a key of `alg` (see planRotation). The new key is written before the old one is told it
 * is superseded, so an interruption leaves two signing candidates (the newer wins), never none.
 * With `onlyIfDue`, nothing is written unless rotation is still due once the lock is held; with
 * `onlyIfMissing` (SIGNING_ALG names an algorithm KEYS_DIR has no key of), nothing is written
 * unless, once the lock is held, no key of `alg` is published or waiting: of instances starting
 * together, one creates the key and the others find it.
 */
export async function rotateKeys(
  dir: string,
  options: { now: () => number; alg: SigningAlg; immediate: boolean; policy: RotationPolicy; onlyIfDue?: number; onlyIfMissing?: boolean; audit: AuditLog; warn?: Warn },
): Promise<WrittenKey | undefined> {
  const by = options.onlyIfMissing === true ? 'configuration' : options.onlyIfDue !== undefined ? 'schedule' : options.immediate ? 'immediate' : 'command'
  const warn = options.warn ?? (() => {})
  const created = await withLock(dir, async () => {
    const files = await readAll(dir, warn)
    const now = options.now()
    if (options.onlyIfDue !== undefined && !rotationDue(files.map(toTimes), now, options.alg, options.onlyIfDue)) return undefined
    if (options.onlyIfMissing === true && hasKeyOf(files, options.alg, now)) return undefined
    const policy = await effectivePolicy(dir, options.policy)
    const plan = planRotation(files.map(toTimes), now, { ...options, policy })
    const created = await generateKeyFile(dir, { alg: options.alg, now, signsFrom: plan.signsFrom })
    await applyUpdates(dir, files, plan.updates)
    // --now in the very millisecond the current key began: the new key signs from the next one.
    return describe(created, await readAll(dir, () => {}), options.immediate ? plan.signsFrom : now)
  })
  if (created !== undefined) options.audit.record({ event: 'key_rotated', kid: created.kid, alg: created.alg, signsFrom: created.signs_from, by })
  return created
}

/**
 * Retires `kid` at once (see planRetire). Its successor is written first, so at every moment
 * some key signs; the retired key stops being published with the last write.
 */
export async function retireKey(dir: string, kid: string, options: { now: () => number; audit: AuditLog; warn?: Warn }): Promise<WrittenKey> {
  let changed = false
  const retired = await withLock(dir, async () => {
    const files = await readAll(dir, options.warn ?? (() => {}))
    const now = options.now()
    const plan = planRetire(files.map(toTimes), kid, now)
    const target = files.find((f) => f.kid === kid)!
    if (plan.createKey) await generateKeyFile(dir, { alg: target.alg, now, signsFrom: now })
    changed = plan.updates.length > 0
    const [own, ...successor] = plan.updates
    await applyUpdates(dir, files, successor)
    if (own !== undefined) await applyUpdates(dir, files, [own])
    const after = await readAll(dir, () => {})
    const result = describe(after.find((f) => f.kid === kid)!, after, now)
    if (result.status !== 'retired') throw new KeyFileError(`KEYS_DIR: ${kid} is still ${result.status} after retiring it; check KEYS_DIR`)
    return result
  })
  if (changed) options.audit.record({ event: 'key_retired', kid: retired.kid, alg: retired.alg })
  return retired
}
