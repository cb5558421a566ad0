import { KeyFileError, SIGNING_ALGS, type KeyFile, type KeyStatus, type SigningAlg } from './key-file.js'

/**
 * The times that decide a key's status, in epoch milliseconds. Pure functions of these and the
 * clock: no process moves a key from one status to the next, so instances, the CLI and a
 * directory nobody watches all agree, at every moment.
 */
export interface KeyTimes {
  kid: string
  alg: SigningAlg
  createdAt: number
  signsFrom: number
  supersededAt: number | null
  retiresAt: number | null
}

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

/**
 * Whether a key of `alg` signs at `now` and at every later moment the set changes (each
 * signs_from and retires_at to come): a set in which signing would lapse later, because a
 * successor is missing, is refused when it is read, not discovered when /token fails.
 */
export function signsThroughout(keys: readonly KeyTimes[], now: number, alg: SigningAlg): boolean {
  const moments = [now, ...keys.flatMap((k) => [k.signsFrom, k.retiresAt ?? now]).filter((t) => t > now)]
  return moments.every((moment) => {
    const statuses = statusesAt(keys, moment)
    return keys.some((k) => k.alg === alg && statuses.get(k.kid) === 'current')
  })
}

/** The algorithms that have a current key at `now`: what `keys rotate` and scheduled rotation rotate. */
export function signingAlgs(keys: readonly KeyTimes[], now: number): SigningAlg[] {
  const statuses = statusesAt(keys, now)
  const algs = new Set(keys.filter((k) => statuses.get(k.kid) === 'current').map((k) => k.alg))
  return SIGNING_ALGS.filter((alg) => algs.has(alg))
}

/** What rotation needs to know besides the keys. */
export interface RotationPolicy {
  /** How long a new key is published before it signs (KEY_PUBLISH_DELAY). */
  publishDelaySeconds: number
  /** How long a superseded key stays published: the longest token lifetime plus clock tolerance. */
  retentionSeconds: number
}

/** Seconds of clock difference allowed to whoever verifies latchkey's tokens. */
export const CLOCK_TOLERANCE_SECONDS = 60

/**
 * The status of every key at `now`. Per algorithm: a key is retired from `retiresAt`, next until
 * `signsFrom`; of the rest, the one that began signing last is current, the others previous.
 */
export function statusesAt(keys: readonly KeyTimes[], now: number): Map<string, KeyStatus> {
  const statuses = new Map<string, KeyStatus>()
  const newest = new Map<SigningAlg, KeyTimes>()
  for (const key of keys) {
    if (key.retiresAt !== null && key.retiresAt <= now) statuses.set(key.kid, 'retired')
    else if (key.signsFrom > now) statuses.set(key.kid, 'next')
    else {
      statuses.set(key.kid, 'previous')
      const best = newest.get(key.alg)
      if (best === undefined || laterSigner(key, best)) newest.set(key.alg, key)
    }
  }
  for (const key of newest.values()) statuses.set(key.kid, 'current')
  return statuses
}

function laterSigner(a: KeyTimes, b: KeyTimes): boolean {
  if (a.signsFrom !== b.signsFrom) return a.signsFrom > b.signsFrom
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt
  return a.kid > b.kid
}

/** New times for existing keys; a key not named keeps its own. */
export type KeyUpdate = Pick<KeyTimes, 'kid' | 'signsFrom' | 'supersededAt' | 'retiresAt'>

export interface RotationPlan {
  /** When the key to create signs from. */
  signsFrom: number
  updates: KeyUpdate[]
}

export class KeyRotationError extends KeyFileError {
  override name = 'KeyRotationError'
}

/** The algorithm that always has a signing key: ID tokens are RS256 (OIDC Discovery §3). */
export const ALWAYS_SIGNING: SigningAlg = 'RS256'

/**
 * The key of `alg` access tokens are signed with at `now`: the current key of `alg` or, while
 * there is none (its first key is still only published), the current RS256 key. So changing
 * SIGNING_ALG never signs with a key resource servers have not had the time to fetch.
 */
export function accessTokenSigner<K extends KeyTimes>(keys: readonly K[], now: number, alg: SigningAlg): K | undefined {
  const statuses = statusesAt(keys, now)
  const current = (a: SigningAlg) => keys.find((k) => k.alg === a && statuses.get(k.kid) === 'current')
  return current(alg) ?? current(ALWAYS_SIGNING)
}

/**
 * Adding a key of `alg` at `now`: it signs after the publish delay (at once when `immediate`, or
 * when no RS256 key signs now). The current key then hands over and stays published for the
 * retention; a key still waiting to sign is refused, unless `immediate` replaces it (it never
 * signed anything, so it retires at once).
 */
export function planRotation(
  keys: readonly KeyTimes[],
  now: number,
  options: { alg: SigningAlg; immediate: boolean; policy: RotationPolicy },
): RotationPlan {
  const { alg, immediate, policy } = options
  const statuses = statusesAt(keys, now)
  const own = keys.filter((k) => k.alg === alg)
  const waiting = own.filter((k) => statuses.get(k.kid) === 'next')
  if (waiting.length > 0 && !immediate) {
    const first = waiting[0]!
    throw new KeyRotationError(
      `key ${first.kid} is already waiting to sign (from ${new Date(first.signsFrom).toISOString()}); ` +
        'wait for it, or use --now to replace it with a key that signs at once',
    )
  }
  const current = own.find((k) => statuses.get(k.kid) === 'current')
  // Only RS256 must sign at every moment (ID tokens): a first key of another algorithm waits
  // the delay like any other, access tokens being signed with the RS256 key meanwhile.
  const signsNow = immediate || (current === undefined && alg === ALWAYS_SIGNING)
  let signsFrom = signsNow ? now : now + policy.publishDelaySeconds * 1000
  // Within the millisecond the current key began signing, the new one must still come after it.
  if (current !== undefined && signsFrom <= current.signsFrom) signsFrom = current.signsFrom + 1
  const updates: KeyUpdate[] = []
  for (const key of own) {
    const status = statuses.get(key.kid)
    if (key === current) {
      updates.push({ kid: key.kid, signsFrom: key.signsFrom, supersededAt: signsFrom, retiresAt: signsFrom + policy.retentionSeconds * 1000 })
    } else if (status === 'next') {
      updates.push({ kid: key.kid, signsFrom: key.signsFrom, supersededAt: now, retiresAt: now })
    } else if (status === 'previous' && key.retiresAt === null) {
      // Left without an end by an interrupted rotation or an old file: give it one.
      updates.push({ kid: key.kid, signsFrom: key.signsFrom, supersededAt: key.supersededAt ?? now, retiresAt: now + policy.retentionSeconds * 1000 })
    }
  }
  return { signsFrom, updates }
}

export interface RetirePlan {
  updates: KeyUpdate[]
  /** True when no key is left to sign: a new one must be created, signing at once. */
  createKey: boolean
}

/**
 * Retiring `kid` at `now` (a leaked key): it stops being published and trusted at once. When it
 * was the current key, the newest published key of its algorithm takes over now (a next key
 * signs early, a previous one signs again), or, for RS256, a new key must be created.
 */
export function planRetire(keys: readonly KeyTimes[], kid: string, now: number): RetirePlan {
  const target = keys.find((k) => k.kid === kid)
  if (target === undefined) throw new KeyRotationError(`no key ${kid} in KEYS_DIR`)
  const statuses = statusesAt(keys, now)
  const status = statuses.get(kid)
  if (status === 'retired') return { updates: [], createKey: false }
  const updates: KeyUpdate[] = [{ kid, signsFrom: target.signsFrom, supersededAt: target.supersededAt ?? now, retiresAt: now }]
  const others = keys.filter((k) => k.alg === target.alg && k.kid !== kid && statuses.get(k.kid) !== 'retired')
  const successor = others.sort((a, b) => b.createdAt - a.createdAt)[0]
  if (status === 'current') {
    // Another algorithm's access tokens fall back to RS256 at once; a server configured for it
    // creates a new key, published before it signs.
    if (successor === undefined) return { updates, createKey: target.alg === ALWAYS_SIGNING }
    updates.push({ kid: successor.kid, signsFrom: Math.min(successor.signsFrom, now), supersededAt: null, retiresAt: null })
  } else if (status === 'next') {
    // The key that was to hand over to it keeps signing, with no end.
    const current = others.find((k) => statuses.get(k.kid) === 'current')
    if (current !== undefined && !others.some((k) => k !== current && statuses.get(k.kid) === 'next')) {
      updates.push({ kid: current.kid, signsFrom: current.signsFrom, supersededAt: null, retiresAt: null })
    }
  }
  return { updates, createKey: false }
}

/** Whether scheduled rotation is due: the newest unretired key of `alg` is `days` old. */
export function rotationDue(keys: readonly KeyTimes[], now: number, alg: SigningAlg, days: number): boolean {
  if (days <= 0) return false
  const statuses = statusesAt(keys, now)
  const newest = Math.max(...keys.filter((k) => k.alg === alg && statuses.get(k.kid) !== 'retired').map((k) => k.createdAt))
  return newest !== -Infinity && now - newest >= days * 86_400_000
}

/** The rotation policy a configuration implies: every JWT latchkey signs lives ACCESS_TOKEN_TTL. */
export function rotationPolicy(config: { keyPublishDelaySeconds: number; accessTokenTtlSeconds: number }): RotationPolicy {
  return { publishDelaySeconds: config.keyPublishDelaySeconds, retentionSeconds: config.accessTokenTtlSeconds + CLOCK_TOLERANCE_SECONDS }
}

/**
 * The JWKS `Cache-Control: max-age`: at most half the publish delay (and five minutes), so a
 * resource server's cached copy has been refreshed, with the new key in it, before that key signs.
 */
export function jwksMaxAgeSeconds(publishDelaySeconds: number): number {
  return Math.min(300, Math.floor(publishDelaySeconds / 2))
}
