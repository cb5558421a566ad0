import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit.js'
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { KeyFileError, keyThumbprint, parseKeyFile, type KeyFile, type SigningAlg } from './key-file.js'
import { planRetire, planRotation, rotationDue, statusesAt, type KeyTimes, type KeyUpdate, type RotationPolicy } from './key-timeline.js'

/** The lock file that serialises every change to KEYS_DIR (first key, rotation, retirement). */
export const KEYS_LOCK = '.lock'
const LOCK_STALE_MS = 30_000
const LOCK_WAIT_MS = 10_000

const iso = (ms: number) => new Date(ms).toISOString()
const msOrNull = (time: string | null) => (time === null ? null : Date.parse(time))

export function toTimes(file: KeyFile): KeyTimes {
  return {
    kid: file.kid,
    alg: file.alg,
    createdAt: Date.parse(file.created_at),
    signsFrom: Date.parse(file.signs_from),
    supersededAt: msOrNull(file.superseded_at),
    retiresAt: msOrNull(file.retires_at),
  }
}

/** What `keys rotate` and `keys retire` print of a key. */
export interface WrittenKey {
  kid: string
  alg: SigningAlg
  status: 'next' | 'current' | 'previous' | 'retired'
  created_at: string
  signs_from: string
  retires_at: string | null
}

/** Writes a 0600 temporary file, flushes it, then renames it into place: readers never see half a key. */
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

/** Runs `work` holding KEYS_DIR's lock file; a lock older than 30 s is a crashed holder's and is broken. */
export async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, KEYS_LOCK)
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
    return await work()
  } finally {
    await unlink(path).catch(() => {})
  }
}

/** Every key file, validated: a change is never made on top of a directory that does not read. */
async function readAll(dir: string): Promise<KeyFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
  return Promise.all(names.map(async (name) => parseKeyFile(join(dir, name), await readFile(join(dir, name), 'utf8'))))
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

function describe(file: KeyFile, files: readonly KeyFile[], now: number): WrittenKey {
  const status = statusesAt(files.map(toTimes), now).get(file.kid)!
  return { kid: file.kid, alg: file.alg, status, created_at: file.created_at, signs_from: file.signs_from, retires_at: file.retires_at }
}

/**
 * Adds a key of `alg` (see planRotation). The new key is written before the old one is told it
 * is superseded, so an interruption leaves two signing candidates (the newer wins), never none.
 * With `onlyIfDue`, nothing is written unless rotation is still due once the lock is held.
 */
export async function rotateKeys(
  dir: string,
  options: { now: () => number; alg: SigningAlg; immediate: boolean; policy: RotationPolicy; onlyIfDue?: number; audit: AuditLog },
): Promise<WrittenKey | undefined> {
  const by = options.onlyIfDue !== undefined ? 'schedule' : options.immediate ? 'immediate' : 'command'
  const created = await withLock(dir, async () => {
    const files = await readAll(dir)
    const now = options.now()
    if (options.onlyIfDue !== undefined && !rotationDue(files.map(toTimes), now, options.alg, options.onlyIfDue)) return undefined
    const plan = planRotation(files.map(toTimes), now, options)
    const created = await generateKeyFile(dir, { alg: options.alg, now, signsFrom: plan.signsFrom })
    await applyUpdates(dir, files, plan.updates)
    // --now in the very millisecond the current key began: the new key signs from the next one.
    return describe(created, await readAll(dir), options.immediate ? plan.signsFrom : now)
  })
  if (created !== undefined) options.audit.record({ event: 'key_rotated', kid: created.kid, alg: created.alg, signsFrom: created.signs_from, by })
  return created
}

/**
 * Retires `kid` at once (see planRetire). Its successor is written first, so at every moment
 * some key signs; the retired key stops being published with the last write.
 */
export async function retireKey(dir: string, kid: string, options: { now: () => number; audit: AuditLog }): Promise<WrittenKey> {
  let changed = false
  const retired = await withLock(dir, async () => {
    const files = await readAll(dir)
    const now = options.now()
    const plan = planRetire(files.map(toTimes), kid, now)
    const target = files.find((f) => f.kid === kid)!
    if (plan.createKey) await generateKeyFile(dir, { alg: target.alg, now, signsFrom: now })
    changed = plan.updates.length > 0
    const [own, ...successor] = plan.updates
    await applyUpdates(dir, files, successor)
    if (own !== undefined) await applyUpdates(dir, files, [own])
    const after = await readAll(dir)
    return describe(after.find((f) => f.kid === kid)!, after, now)
  })
  if (changed) options.audit.record({ event: 'key_retired', kid: retired.kid, alg: retired.alg })
  return retired
}
