import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { clientNetwork } from '../network.js'
import { DEVICE_AUTHORIZATION_TTL_S, formatUserCode, newUserCode, normalizeUserCode, POLLING_INTERVAL_S, userCodeHash } from '../oauth/device-flow.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { DeviceAuthorization, DeviceAuthorizationRepository } from '../storage/device-authorizations.js'
import type { FailureCounterRepository } from '../storage/failure-counters.js'

/**
 * The unexpired device authorizations one client network may hold, as for authorization
 * transactions (MAX_OPEN_TRANSACTIONS_PER_ADDRESS): anyone who knows a public client_id can ask
 * for one, so without a cap one address could grow the table without bound. 1000 per lifetime
 * (10 minutes) is 100 new device sign-ins a minute from one address, sustained.
 */
export const MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS = 1000

/** The window wrong user codes are counted over: fixed, from the first wrong one. */
export const USER_CODE_FAILURE_WINDOW_MS = 15 * 60_000

/** RFC 9110 §10.2.3: Retry-After in whole seconds, at least 1. */
function secondsUntil(untilMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((untilMs - nowMs) / 1000))
}

/**
 * Wrong user codes one client network, and one browser, may enter per
 * USER_CODE_FAILURE_WINDOW_MS (15 minutes) before the verification page refuses further entries (RFC 8628 §5.1).
 *
 * The arithmetic: a user code is 8 characters from 20, 20^8 ≈ 2.56e10 codes, and lives 10
 * minutes. With N codes live at once, one guess hits one with probability N / 2.56e10. An
 * address gets 10 guesses per 15 minutes, so over a code's whole lifetime at most 10: even with
 * N = 10,000 live codes (a large deployment at its peak), one address's chance of hitting any
 * is 10 × 10,000 / 2.56e10 ≈ 4e-6, and a botnet of 10,000 addresses working for a day (96
 * windows) gets about 10,000 × 96 × 10 × 10,000 / 2.56e10 ≈ 3.75 hits on somebody's code,
 * each of which still only lets the guesser approve that device with the guesser's own
 * account, for the user to notice. Brute force within a code's lifetime is pointless.
 */
export const MAX_USER_CODE_FAILURES = 10

/** Too many live device authorizations from one address: 429 with Retry-After, nothing stored. */
export function tooManyDeviceAuthorizations(retryAfterSeconds: number): OAuthError {
  return new OAuthError('temporarily_unavailable', 'too many device authorization requests from this network; try again later', { status: 429, retryAfterSeconds })
}

/** What /device_authorization answers (RFC 8628 §3.2), less the URIs the route adds. */
export interface StartedDeviceAuthorization {
  deviceCode: string
  /** Formatted for display: `BCDF-GHJK`. */
  userCode: string
  expiresInSeconds: number
  intervalSeconds: number
}

/** The outcome of a user code typed on the verification page. */
export type UserCodeEntry =
  | { outcome: 'found'; device: DeviceAuthorization }
  | { outcome: 'wrong' }
  /** `first`: the first refusal of its window (the one to log). */
  | { outcome: 'limited'; retryAfterSeconds: number; first: boolean }

export interface DeviceAuthorizations {
  /**
   * RFC 8628 §3.1: a new device code and user code for the client's request; `refused`, with
   * nothing stored, when the address already holds MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS.
   */
  start(input: { clientId: string; scopes: readonly string[]; resource: string; clientAddress: string }): Promise<StartedDeviceAuthorization | { refused: { retryAfterSeconds: number } }>
  /**
   * A user code typed on the verification page, from `ip` and the browser `browserId`: the pending
   * authorization it names, `wrong`, or `limited` once the address or the browser has entered
   * too many wrong codes (RFC 8628 §5.1).
   */
  enter(input: { userCode: string; ip: string; browserId: string }): Promise<UserCodeEntry>
  /**
   * The user allowed: stores the grant's authorization code (never handed out: the device code
   * redeems it) and marks the authorization approved. False when it is no longer pending.
   */
  approve(id: string, approval: { userId: string; authTime: number; verificationUri: string }): Promise<boolean>
  /** The user denied: the device's next poll gets access_denied. False when no longer pending. */
  deny(id: string, decision: { userId: string; authTime: number }): Promise<boolean>
}

export function deviceAuthorizations(deps: {
  devices: DeviceAuthorizationRepository
  counters: FailureCounterRepository
  clock: Clock
  maxOpenPerAddress?: number | undefined
}): DeviceAuthorizations {
  const maxOpen = deps.maxOpenPerAddress ?? MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS
  // Each wrong code counts against both: the address (whatever cookies it drops) and the browser.
  const entryKeys = (ip: string, browserId: string) => [
    sha256Hex(`user-code-address:${clientNetwork(ip)}`),
    sha256Hex(`user-code-browser:${browserId}`),
  ]

  return {
    async start(input) {
      const now = deps.clock.now()
      const address = clientNetwork(input.clientAddress)
      // Counted, then inserted: concurrent requests may overshoot by as many as run at once.
      const open = await deps.devices.countOpen(address, now, maxOpen)
      if (open.count >= maxOpen) {
        return { refused: { retryAfterSeconds: secondsUntil(open.firstExpiresAt ?? now + DEVICE_AUTHORIZATION_TTL_S * 1000, now) } }
      }
      const deviceCode = randomToken(32)
      // A user code already stored is drawn again; with 2.56e10 codes, a second draw is rare
      // and a fifth practically never happens.
      for (let attempt = 0; attempt < 5; attempt++) {
        const userCode = newUserCode()
        const stored = await deps.devices.create({
          id: randomUUID(),
          deviceCodeHash: sha256Hex(deviceCode),
          userCodeHash: userCodeHash(userCode),
          clientId: input.clientId,
          scopes: [...input.scopes],
          resource: input.resource,
          status: 'pending',
          userId: null,
          authTime: null,
          codeId: null,
          intervalSeconds: POLLING_INTERVAL_S,
          lastPolledAt: null,
          address,
          createdAt: now,
          expiresAt: now + DEVICE_AUTHORIZATION_TTL_S * 1000,
          redeemedAt: null,
        })
        if (stored) return { deviceCode, userCode: formatUserCode(userCode), expiresInSeconds: DEVICE_AUTHORIZATION_TTL_S, intervalSeconds: POLLING_INTERVAL_S }
      }
      throw new Error('no free user code after 5 draws')
    },

    async enter({ userCode, ip, browserId }) {
      const now = deps.clock.now()
      const keys = entryKeys(ip, browserId)
      // Counted as wrong from the start, so concurrent guesses cannot overshoot the limit; a
      // code that is found is taken back.
      const counts = await Promise.all(keys.map((key) => deps.counters.increment(key, now, USER_CODE_FAILURE_WINDOW_MS)))
      const over = counts.filter((count) => count.failures > MAX_USER_CODE_FAILURES)
      if (over.length > 0) {
        const retryAfterSeconds = secondsUntil(Math.max(...over.map((c) => c.expiresAt)), now)
        return { outcome: 'limited', retryAfterSeconds, first: over.some((c) => c.failures === MAX_USER_CODE_FAILURES + 1) }
      }
      const normalized = normalizeUserCode(userCode)
      const device = normalized === undefined ? undefined : await deps.devices.findPendingByUserCodeHash(userCodeHash(normalized), now)
      if (!device) return { outcome: 'wrong' }
      await Promise.all(keys.map((key) => deps.counters.decrement(key, now)))
      return { outcome: 'found', device }
    },

    async approve(id, { userId, authTime, verificationUri }) {
      const device = await deps.devices.findById(id)
      if (!device) return false
      const now = deps.clock.now()
      return deps.devices.approve({
        id,
        now,
        code: {
          id: randomUUID(),
          // A value no one ever sees: the code is redeemed by the device code, by its id.
          codeHash: sha256Hex(randomToken(32)),
          clientId: device.clientId,
          userId,
          redirectUri: verificationUri,
          scopes: device.scopes,
          resource: device.resource,
          codeChallenge: null,
          codeChallengeMethod: null,
          authTime,
          createdAt: now,
          // Redeemable as long as the device code is.
          expiresAt: device.expiresAt,
          usedAt: null,
          familyId: null,
          nonce: null,
        },
      })
    },

    async deny(id, { userId, authTime }) {
      return deps.devices.deny({ id, userId, authTime, now: deps.clock.now() })
    },
  }
}
