import type { Clock } from '../clock.js'
import { clientNetwork } from '../network.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { FailureCounterRepository } from '../storage/failure-counters.js'

/**
 * Limits on failures, not on requests (OAuth 2.1 §2.4.1, §7.7: guard passwords and client
 * secrets against guessing): a service asking for tokens all day, or an office signing in behind
 * one address, is never refused for succeeding. Counts live in the database (failure_counters),
 * so every instance shares them, over a fixed 15-minute window from a key's first failure:
 * - failed client authentications, per client_id and client address: past the limit a FAILED
 *   authentication answers 429 instead of 401. A correct secret is never looked up here, so it
 *   is never refused: a 256-bit secret needs no lock, and a lock would let anyone who knows a
 *   client_id shut its service out;
 * - failed sign-ins per client address, on top of the per-username throttle (login-throttle.ts):
 *   past the limit every sign-in from the address is refused, without checking the password,
 *   until the window ends. Set well above what one person mistyping or one attacker on one
 *   account (locked after 5 failures per address) produces, it stops guessing spread over many
 *   usernames from one address.
 * Refused attempts are counted too (the window does not move, so they do not prolong it), which
 * makes exactly one refusal per window the first, the one that is logged.
 * Keys are SHA-256 hashes; the address is `clientNetwork(ip)` (an IPv6 /64 counts as one).
 */
export const FAILURE_WINDOW_MS = 15 * 60_000

/** A request refused by a limit: Retry-After, and whether it is the first refusal of its window. */
export interface Refusal {
  retryAfterSeconds: number
  first: boolean
}

/** RFC 9110 §10.2.3: Retry-After in whole seconds, at least 1. */
export function secondsUntil(untilMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((untilMs - nowMs) / 1000))
}

export function clientAuthKey(clientId: string, ip: string): string {
  // JSON keeps any client_id (which may hold any character but NUL) apart from the address.
  return sha256Hex(`client-auth:${JSON.stringify([clientId, clientNetwork(ip)])}`)
}

export function signInAddressKey(ip: string): string {
  return sha256Hex(`signin-address:${clientNetwork(ip)}`)
}

/** A client_id is logged only in latchkey's own shape: a secret pasted into it never is. */
export function loggableClientId(clientId: string): string | undefined {
  return /^lk_[A-Za-z0-9_-]{1,64}$/.test(clientId) ? clientId : undefined
}

export interface ClientAuthFailureLimit {
  /**
   * Counts a failed client authentication (`clientId` as presented, '' when none could be
   * read) from `ip`; answers a refusal once the pair has failed more than the limit.
   */
  failed(attempt: { clientId: string; ip: string }): Promise<Refusal | undefined>
}

export function clientAuthFailureLimit(deps: { counters: FailureCounterRepository; clock: Clock; maxFailures: number }): ClientAuthFailureLimit {
  return {
    async failed({ clientId, ip }) {
      const now = deps.clock.now()
      const count = await deps.counters.increment(clientAuthKey(clientId, ip), now, FAILURE_WINDOW_MS)
      if (count.failures <= deps.maxFailures) return undefined
      return { retryAfterSeconds: secondsUntil(count.expiresAt, now), first: count.failures === deps.maxFailures + 1 }
    },
  }
}

export type AddressAttempt = { allowed: true } | { allowed: false; refusal: Refusal }

export interface SignInAddressLimit {
  /**
   * Counts a sign-in from `ip` as failed from its start, so concurrent guesses cannot overshoot
   * the limit; refuses it once the address has more failures than the limit.
   */
  start(ip: string): Promise<AddressAttempt>
  /** The attempt did not fail (it succeeded, or the per-username throttle refused it unchecked): take it back. */
  notFailed(ip: string): Promise<void>
}

export function signInAddressLimit(deps: { counters: FailureCounterRepository; clock: Clock; maxFailures: number }): SignInAddressLimit {
  return {
    async start(ip) {
      const now = deps.clock.now()
      const count = await deps.counters.increment(signInAddressKey(ip), now, FAILURE_WINDOW_MS)
      if (count.failures <= deps.maxFailures) return { allowed: true }
      return { allowed: false, refusal: { retryAfterSeconds: secondsUntil(count.expiresAt, now), first: count.failures === deps.maxFailures + 1 } }
    },
    async notFailed(ip) {
      await deps.counters.decrement(signInAddressKey(ip), deps.clock.now())
    },
  }
}
