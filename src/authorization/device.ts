import { randomUUID } from 'node:crypto'
import type { AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { clientNetwork, wideNetworks } from '../network.js'
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
 * Wrong user codes the verification page accepts per USER_CODE_FAILURE_WINDOW_MS (15 minutes)
 * before it refuses further entries (RFC 8628 §5.1), checked in this order, widest address first:
 * - per IPv6 /48 (MAX_USER_CODE_FAILURES_PER_48) and /56 (MAX_USER_CODE_FAILURES_PER_56): a /48
 *   is free from a tunnel broker and holds 65,536 /64s, each of which would otherwise get its
 *   own budget;
 * - per client network, an IPv4 address or an IPv6 /64 (MAX_USER_CODE_FAILURES);
 * - across all addresses (MAX_USER_CODE_FAILURES_GLOBAL), whatever the attacker's address space;
 * - per browser (MAX_USER_CODE_FAILURES): this one only spares honest neighbours behind a shared
 *   NAT address from one mistyping person's lockout and vice versa. The browser cookie is made
 *   up by anyone who wants, so it stops no attacker; it is counted last, and not at all for an
 *   entry a wider limit refused, so throttled posts with invented cookies write no rows.
 * An entry one limit refuses is counted by none after it: an address over its own limit does not
 * eat the global budget (one IPv4 address cannot shut the page for everyone; that takes 100
 * addresses, or 20 /48s, each at its limit for the whole window).
 *
 * The arithmetic: a user code is 8 characters from 20, 20^8 ≈ 2.56e10 codes (34.6 bits), and
 * lives 10 minutes; with N codes of other people live at once, one guess hits one with
 * probability N / 2.56e10 (the guesser's own codes are no use to them). The global limit lets at
 * most 1,000 wrong codes per 15 minutes through, 96,000 a day, so even with N = 10,000 live
 * codes all day (a large deployment at its peak; each address may hold up to
 * MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS) the expected number of hits is
 * 96,000 × 10,000 / 2.56e10 ≈ 0.04 a day, about one a month, whatever the addresses: and a hit
 * only lets the guesser approve somebody's device with the guesser's own account, for that
 * person to notice. One IPv4 address alone gets 10 guesses per window: 10 × 10,000 / 2.56e10 ≈
 * 4e-6 in a code's lifetime. The price: someone with 100 addresses can keep the page answering
 * 429 for everyone; the first refusal of each window is logged as device_code_guessing.
 */
export const MAX_USER_CODE_FAILURES = 10
export const MAX_USER_CODE_FAILURES_PER_56 = 20
export const MAX_USER_CODE_FAILURES_PER_48 = 50
export const MAX_USER_CODE_FAILURES_GLOBAL = 1000

/** Too many live device authorizations from one address: 429 with Retry-After, nothing stored. */
export function tooManyDeviceAuthorizations(retryAfterSeconds: number): OAuthError {
  return new OAuthError('temporarily_unavailable', 'too many device authorization requests from this network; try again later', { status: 429, retryAfterSeconds })
}

/** What /device_authorization answers (RFC 8628 §3.2), less the URIs the route adds. */
export interface StartedDeviceAuthorization {
  /** The device authorization's id (for the audit log: never a code). */
  id: string
  /** The client network it is counted against (clientNetwork). */
  network: string
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
  /**
   * `limit`: which count refused it (`global`: every address together); `first`: the first
   * refusal of its window (the one to log).
   */
  | { outcome: 'limited'; limit: 'address' | 'global' | 'browser'; retryAfterSeconds: number; first: boolean }

/** One count a wrong user code goes against (see MAX_USER_CODE_FAILURES). */
interface EntryLimit {
  limit: 'address' | 'global' | 'browser'
  key: string
  max: number
}

export interface DeviceAuthorizations {
  /**
   * RFC 8628 §3.1: a new device code and user code for the client's request; `refused`, with
   * nothing stored, when the address already holds MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS.
   */
  start(input: { clientId: string; scopes: readonly string[]; resource: string; clientAddress: string }): Promise<StartedDeviceAuthorization | { refused: { retryAfterSeconds: number } }>
  /**
   * A user code typed on the verification page, from `ip` and the browser `browserId`: the pending
   * authorization it names, `wrong`, or `limited` once the address's networks, every address
   * together, or the browser have entered too many wrong codes (RFC 8628 §5.1).
   */
  enter(input: { userCode: string; ip: string; browserId: string }): Promise<UserCodeEntry>
  /**
   * The user allowed: stores the grant's authorization code (never handed out: the device code
   * redeems it) and marks the authorization approved. False when it is no longer pending.
   */
  approve(id: string, approval: { userId: string; authTime: number; amr: readonly AuthMethod[]; verificationUri: string }): Promise<boolean>
  /** The user denied: the device's next poll gets access_denied. False when no longer pending. */
  deny(id: string, decision: { userId: string; authTime: number; amr: readonly AuthMethod[] }): Promise<boolean>
}

export function deviceAuthorizations(deps: {
  devices: DeviceAuthorizationRepository
  counters: FailureCounterRepository
  clock: Clock
  maxOpenPerAddress?: number | undefined
  /** MAX_USER_CODE_FAILURES_GLOBAL unless a test lowers it. */
  maxFailuresGlobal?: number | undefined
}): DeviceAuthorizations {
  const maxOpen = deps.maxOpenPerAddress ?? MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS
  // The counts a wrong code goes against, in the order they are checked (see MAX_USER_CODE_FAILURES).
  const entryLimits = (ip: string, browserId: string): EntryLimit[] => {
    const wide = wideNetworks(ip)
    return [
      ...(wide
        ? [
            { limit: 'address' as const, key: `user-code-address:${wide.net48}`, max: MAX_USER_CODE_FAILURES_PER_48 },
            { limit: 'address' as const, key: `user-code-address:${wide.net56}`, max: MAX_USER_CODE_FAILURES_PER_56 },
          ]
        : []),
      { limit: 'address', key: `user-code-address:${clientNetwork(ip)}`, max: MAX_USER_CODE_FAILURES },
      { limit: 'global', key: 'user-code-global', max: deps.maxFailuresGlobal ?? MAX_USER_CODE_FAILURES_GLOBAL },
      { limit: 'browser', key: `user-code-browser:${browserId}`, max: MAX_USER_CODE_FAILURES },
    ]
  }

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
        const id = randomUUID()
        const stored = await deps.devices.create({
          id,
          deviceCodeHash: sha256Hex(deviceCode),
          userCodeHash: userCodeHash(userCode),
          clientId: input.clientId,
          scopes: [...input.scopes],
          resource: input.resource,
          status: 'pending',
          userId: null,
          authTime: null,
          amr: null,
          codeId: null,
          intervalSeconds: POLLING_INTERVAL_S,
          lastPolledAt: null,
          address,
          createdAt: now,
          expiresAt: now + DEVICE_AUTHORIZATION_TTL_S * 1000,
          redeemedAt: null,
        })
        if (stored) return { id, network: address, deviceCode, userCode: formatUserCode(userCode), expiresInSeconds: DEVICE_AUTHORIZATION_TTL_S, intervalSeconds: POLLING_INTERVAL_S }
      }
      throw new Error('no free user code after 5 draws')
    },

    async enter({ userCode, ip, browserId }) {
      const now = deps.clock.now()
      // Counted as wrong from the start, so concurrent guesses cannot overshoot a limit; a code
      // that is found is taken back. One at a time: the first count over its limit refuses the
      // entry, and the counts after it are not touched.
      const counted: string[] = []
      for (const { limit, key, max } of entryLimits(ip, browserId)) {
        const keyHash = sha256Hex(key)
        const count = await deps.counters.increment(keyHash, now, USER_CODE_FAILURE_WINDOW_MS)
        if (count.failures > max) return { outcome: 'limited', limit, retryAfterSeconds: secondsUntil(count.expiresAt, now), first: count.failures === max + 1 }
        counted.push(keyHash)
      }
      const normalized = normalizeUserCode(userCode)
      const device = normalized === undefined ? undefined : await deps.devices.findPendingByUserCodeHash(userCodeHash(normalized), now)
      if (!device) return { outcome: 'wrong' }
      await Promise.all(counted.map((keyHash) => deps.counters.decrement(keyHash, now)))
      return { outcome: 'found', device }
    },

    async approve(id, { userId, authTime, amr, verificationUri }) {
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
          amr: [...amr],
          createdAt: now,
          // Redeemable as long as the device code is.
          expiresAt: device.expiresAt,
          usedAt: null,
          familyId: null,
          nonce: null,
        },
      })
    },

    async deny(id, { userId, authTime, amr }) {
      return deps.devices.deny({ id, userId, authTime, amr, now: deps.clock.now() })
    },
  }
}
