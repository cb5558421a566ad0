import type { Clock } from '../clock.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { LoginAttemptRepository } from '../storage/login-attempts.js'

/**
 * Per-username brute-force protection (OAuth 2.1 §2.4.1, §7.7) for the login page and the
 * password grant, on top of the per-IP rate limits. It lives in the database, so every
 * instance shares it.
 * - An attempt counts as a failure from the moment it starts until it succeeds, so concurrent
 *   guesses cannot overshoot the limit.
 * - The 5th consecutive failure within 15 minutes locks the username for 1 minute; each failure
 *   after a lockout doubles it (2, 4, 8 minutes), capped at 15 minutes.
 * - While locked, attempts are refused without checking the password, and are not counted.
 * - A success resets the count; so do 15 minutes without an attempt (counted from the end of a
 *   lockout).
 * The key is a hash of the normalised username: unknown usernames are throttled like known
 * ones, so the throttle reveals nothing, and the table names no one in clear.
 */
export const LOGIN_THROTTLE = {
  maxFailures: 5,
  windowMs: 15 * 60_000,
  firstLockoutMs: 60_000,
  maxLockoutMs: 15 * 60_000,
} as const

/** Usernames that differ only in case or Unicode form share one count. */
export function throttleKey(username: string): string {
  return sha256Hex(`login:${username.normalize('NFKC').toLowerCase()}`)
}

/** How long the username is locked once `failures` attempts have failed; 0 below the limit. */
export function lockoutMs(failures: number): number {
  if (failures < LOGIN_THROTTLE.maxFailures) return 0
  return Math.min(LOGIN_THROTTLE.firstLockoutMs * 2 ** (failures - LOGIN_THROTTLE.maxFailures), LOGIN_THROTTLE.maxLockoutMs)
}

/** `lockedUntil` is set when this attempt, should it fail, starts a lockout. */
export type AttemptStart = { allowed: false } | { allowed: true; failures: number; lockedUntil: number | null }

export interface LoginThrottle {
  /** Counts an attempt for the username, or refuses it while the username is locked. */
  start(username: string): Promise<AttemptStart>
  /** The attempt succeeded: the count starts again. */
  succeeded(username: string): Promise<void>
}

export function loginThrottle(deps: { attempts: LoginAttemptRepository; clock: Clock }): LoginThrottle {
  return {
    async start(username) {
      const claimed = await deps.attempts.claim({
        keyHash: throttleKey(username),
        now: deps.clock.now(),
        windowMs: LOGIN_THROTTLE.windowMs,
        lockoutMs,
      })
      return claimed ? { allowed: true, ...claimed } : { allowed: false }
    },
    async succeeded(username) {
      await deps.attempts.reset(throttleKey(username))
    },
  }
}
