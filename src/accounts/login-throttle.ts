import type { Clock } from '../clock.js'
import { clientNetwork } from '../network.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { AttemptClaim, LoginAttemptRepository } from '../storage/login-attempts.js'

/**
 * Brute-force protection (OAuth 2.1 §2.4.1, §7.7) for the login page and the password grant, on
 * top of the per-IP rate limits, kept in the database so every instance shares it. Each attempt
 * is counted under two keys:
 * - the username from one client address: the 5th consecutive failure locks that pair for 1
 *   minute, each failure after a lockout doubles it (2, 4, 8 minutes), capped at 15 minutes. A
 *   guesser locks out only their own address and the real user elsewhere still signs in (a count
 *   per username alone let one address keep any account locked for good);
 * - the username from anywhere, against guessing spread over many addresses: the same rule from
 *   the 50th failure, and this lock refuses everyone.
 * A count lapses after 15 minutes without an attempt (counted from the end of a lockout); a
 * success resets both (the username's and this address's). An attempt counts as a failure from
 * the moment it starts until it succeeds, so concurrent guesses cannot overshoot either limit.
 * While either key is locked, attempts are refused without checking the password and count
 * against neither, so guessing from a locked address adds nothing to the username's count.
 *
 * The cost: one address cannot lock the username for others, as its own lockouts (capped at no
 * less than the window) let the username's count lapse between its attempts. Two addresses
 * failing in turn for about four hours, or ten at once, can, and then keep it locked with one
 * failure per lockout: the price of any per-account limit.
 * The address is fastify's request.ip with trustProxy off: behind a reverse proxy every caller
 * has the proxy's address, the first count becomes a per-username count with the low threshold,
 * and anyone can keep any account locked again. An IPv6 address counts as its /64, which one
 * subscriber usually holds whole, so stepping through it buys nothing.
 * Unknown usernames are throttled like known ones, so the throttle reveals nothing. The keys are
 * SHA-256 hashes of the normalised username (and address): that hides usernames from a casual
 * reader of the table, not from anyone who hashes a list of likely usernames.
 */
export const LOGIN_THROTTLE = {
  maxFailuresPerAddress: 5,
  maxFailuresPerUsername: 50,
  windowMs: 15 * 60_000,
  firstLockoutMs: 60_000,
  maxLockoutMs: 15 * 60_000,
} as const

/** `address`: this username from this address; `username`: this username from everywhere. */
export type LockKind = 'address' | 'username'

/** Usernames that differ only in case or Unicode form share one count. */
function normaliseUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase()
}

/** The key of the count for the username from every address. */
export function usernameKey(username: string): string {
  return sha256Hex(`login:${normaliseUsername(username)}`)
}

/** The key of the count for the username from one address (the address cannot hold "\n"). */
export function addressKey(username: string, ip: string): string {
  return sha256Hex(`login-ip:${normaliseUsername(username)}\n${clientNetwork(ip)}`)
}

/** How long a key is locked once `failures` attempts have failed; 0 below `maxFailures`. */
export function lockoutMs(failures: number, maxFailures: number): number {
  if (failures < maxFailures) return 0
  return Math.min(LOGIN_THROTTLE.firstLockoutMs * 2 ** (failures - maxFailures), LOGIN_THROTTLE.maxLockoutMs)
}

/** A lock this attempt starts, should it fail. */
export interface Lockout {
  lock: LockKind
  failures: number
  lockedUntil: number
}

export type AttemptStart = { allowed: false } | { allowed: true; lockouts: Lockout[] }

export interface LoginThrottle {
  /** Counts an attempt for the username from `ip`, or refuses it while either count is locked. */
  start(username: string, ip: string): Promise<AttemptStart>
  /** The attempt succeeded: both counts start again. */
  succeeded(username: string, ip: string): Promise<void>
}

export function loginThrottle(deps: { attempts: LoginAttemptRepository; clock: Clock }): LoginThrottle {
  return {
    async start(username, ip) {
      const now = deps.clock.now()
      const claim = (keyHash: string, maxFailures: number): AttemptClaim => ({
        keyHash,
        now,
        windowMs: LOGIN_THROTTLE.windowMs,
        lockoutMs: (failures) => lockoutMs(failures, maxFailures),
      })
      // The address first: a locked address is refused before the username is counted.
      const kinds: LockKind[] = ['address', 'username']
      const claimed = await deps.attempts.claim([
        claim(addressKey(username, ip), LOGIN_THROTTLE.maxFailuresPerAddress),
        claim(usernameKey(username), LOGIN_THROTTLE.maxFailuresPerUsername),
      ])
      if (!claimed) return { allowed: false }
      const lockouts = claimed.flatMap(({ failures, lockedUntil }, i) =>
        lockedUntil === null ? [] : [{ lock: kinds[i] as LockKind, failures, lockedUntil }],
      )
      return { allowed: true, lockouts }
    },
    async succeeded(username, ip) {
      await deps.attempts.reset(addressKey(username, ip))
      await deps.attempts.reset(usernameKey(username))
    },
  }
}
