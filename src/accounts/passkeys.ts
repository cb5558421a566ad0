import { createHash, randomBytes } from 'node:crypto'
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'
import type { AuditLog, SignInChannel } from '../audit.js'
import type { AuthMethod } from '../oauth/auth-methods.js'
import { signInSucceeded } from './credentials.js'
import type { Clock } from '../clock.js'
import type { PasskeyChallengeSlot } from '../storage/passkey-challenges.js'
import { PASSKEY_NAME_MAX, type Passkey, type PasskeyRepository } from '../storage/passkeys.js'
import type { User, UserRepository } from '../storage/users.js'
import type { SignInAddressLimit } from './failure-limits.js'
import type { LoginThrottle } from './login-throttle.js'

/**
 * @simplewebauthn/server, loaded at the first passkey ceremony: it and its ASN.1 and CBOR
 * parsers hold about 20 MiB that a server nobody signs in to with a passkey need not keep
 * (`npm run bench` measures idle RSS). scripts/bundle-server.mjs leaves it out of the bundle.
 */
let webauthnServer: Promise<typeof import('@simplewebauthn/server')> | undefined
const webauthn = () => (webauthnServer ??= import('@simplewebauthn/server'))

/**
 * Passkeys (WebAuthn L2): registering one, and signing in with one, alone (a discoverable
 * credential: no username) or as the second factor. Free of HTTP. The relying party is the
 * ISSUER: its host name is the RP ID and its origin the only origin accepted, so changing
 * ISSUER's host orphans every registered passkey. Challenges are random, kept server-side on
 * the row the ceremony belongs to, short-lived and taken once.
 */

/** Passkeys one user may hold: enough for every device and key, and a bound on what one account stores. */
export const MAX_PASSKEYS_PER_USER = 20

/** How long a ceremony may take, from the options to the answer. */
export const PASSKEY_CHALLENGE_TTL_MS = 5 * 60_000

/** Why a ceremony failed: for the log and the tests; the user sees one message. */
export type PasskeyFailure =
  /** No challenge waiting (none asked for, already used, or taken by a concurrent answer). */
  | 'no_challenge'
  | 'expired'
  /** Not a well-formed WebAuthn answer, or one that does not verify (origin, RP ID, signature, flags). */
  | 'invalid'
  | 'unknown_credential'
  /** The credential belongs to another user than the one signing in, or its user handle does not match. */
  | 'wrong_user'
  /** The signature counter did not grow (WebAuthn §6.1.1: maybe a cloned authenticator). */
  | 'counter'
  | 'disabled'
  /** Registration: the credential is registered already. */
  | 'duplicate'
  /** Registration: the user has MAX_PASSKEYS_PER_USER already. */
  | 'too_many'

export type PasskeySignIn =
  | { outcome: 'ok'; user: User; passkey: Passkey }
  | { outcome: 'failed'; reason: PasskeyFailure }
  /** The address is over its sign-in failure limit: refused unchecked. */
  | { outcome: 'addressLimited'; retryAfterSeconds: number }
  /** Second factor: the user's name is locked by the login throttle. */
  | { outcome: 'throttled'; retryAfterSeconds: number }

export interface PasskeyService {
  /** The RP ID (ISSUER's host name). */
  readonly rpId: string
  /** Options for navigator.credentials.create(); the challenge waits in `slot`. */
  registrationOptions(slot: PasskeyChallengeSlot, user: Pick<User, 'id' | 'username' | 'name'>): Promise<PublicKeyCredentialCreationOptionsJSON>
  /** Checks the browser's answer against the challenge in `slot` (taken) and stores the passkey. */
  register(
    slot: PasskeyChallengeSlot,
    input: { userId: string; response: unknown; name: string },
  ): Promise<{ outcome: 'ok'; passkey: Passkey } | { outcome: 'failed'; reason: PasskeyFailure }>
  /**
   * Options for navigator.credentials.get(). Without a user: a discoverable credential, any of
   * this RP's (empty allowCredentials). With one (the second factor): that user's passkeys only.
   */
  authenticationOptions(slot: PasskeyChallengeSlot, userId?: string): Promise<PublicKeyCredentialRequestOptionsJSON>
  /**
   * Checks an assertion against the challenge in `slot` (taken). `userId`: the second factor,
   * where only that user's passkeys count. Counts against the sign-in limits like a password:
   * the address limit always, the username throttle for the second factor. Audited.
   */
  authenticate(slot: PasskeyChallengeSlot, input: { response: unknown; ip: string; userId?: string | undefined }, audit: AuditLog): Promise<PasskeySignIn>
  /**
   * The sign-in a passkey finished is complete (the session started): the username's failures
   * start again and the audit log says signin_succeeded with its methods (signInSucceeded).
   */
  signInCompleted(signIn: { user: Pick<User, 'id' | 'username'>; ip: string; via: SignInChannel; amr: readonly AuthMethod[] }, audit: AuditLog): Promise<void>
}

/**
 * The WebAuthn user handle (user.id): stable, opaque, derived from the user id, never the
 * username (WebAuthn §14.6.1: no personally identifying information).
 */
export function webauthnUserId(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(`latchkey-webauthn-user:${userId}`).digest())
}

/** A passkey's name as stored: control characters dropped, whitespace collapsed, at most PASSKEY_NAME_MAX. */
export function passkeyName(name: string, fallback: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim()
  return [...(clean === '' ? fallback : clean)].slice(0, PASSKEY_NAME_MAX).join('')
}

/** `expiresAt:challenge`, so an old challenge is refused even where its row lives long (a login session). */
function storedChallenge(challenge: string, expiresAt: number): string {
  return `${expiresAt}:${challenge}`
}

async function takeChallenge(slot: PasskeyChallengeSlot, now: number): Promise<{ challenge: string } | { reason: 'no_challenge' | 'expired' }> {
  const stored = await slot.take()
  const match = stored === null ? null : /^(\d{1,16}):([A-Za-z0-9_-]{16,100})$/.exec(stored)
  if (!match) return { reason: 'no_challenge' }
  if (Number(match[1]) <= now) return { reason: 'expired' }
  return { challenge: match[2] as string }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const B64URL = /^[A-Za-z0-9_-]*$/

/** WebAuthn L3 §5.1: a credential id is at most 1023 bytes: 1364 characters of base64url. */
const MAX_CREDENTIAL_ID_LENGTH = 1364

/** The shape of a PublicKeyCredential's JSON, checked before the library sees it. */
function credentialJson(value: unknown, fields: readonly string[]): boolean {
  if (!isObject(value) || !isObject(value.response) || value.type !== 'public-key') return false
  if (typeof value.id !== 'string' || value.id === '' || value.id.length > MAX_CREDENTIAL_ID_LENGTH || !B64URL.test(value.id) || value.rawId !== value.id) return false
  const response = value.response
  return fields.every((f) => typeof response[f] === 'string' && B64URL.test(response[f] as string))
}

function isRegistrationJson(value: unknown): value is RegistrationResponseJSON {
  return credentialJson(value, ['clientDataJSON', 'attestationObject'])
}

function isAuthenticationJson(value: unknown): value is AuthenticationResponseJSON {
  if (!credentialJson(value, ['clientDataJSON', 'authenticatorData', 'signature'])) return false
  const handle = (value as { response: { userHandle?: unknown } }).response.userHandle
  return handle === undefined || (typeof handle === 'string' && B64URL.test(handle))
}

export function passkeyService(deps: {
  issuer: string
  rpName: string
  passkeys: PasskeyRepository
  users: Pick<UserRepository, 'findById'>
  clock: Clock
  addressLimit: SignInAddressLimit
  throttle: LoginThrottle
}): PasskeyService {
  const issuer = new URL(deps.issuer)
  // WebAuthn §5.1.3 / §7.1: the RP ID is a registrable domain suffix of the origin; the host
  // name itself is the narrowest choice, and the origin must be ISSUER's exactly.
  const rpId = issuer.hostname
  const expectedOrigin = issuer.origin
  const { passkeys, clock } = deps

  // 32 random bytes; the options carry them base64url-encoded, which is what the browser's
  // clientDataJSON echoes and what is stored.
  const newChallenge = async (slot: PasskeyChallengeSlot): Promise<Uint8Array<ArrayBuffer>> => {
    const challenge = new Uint8Array(randomBytes(32))
    await slot.set(storedChallenge(Buffer.from(challenge).toString('base64url'), clock.now() + PASSKEY_CHALLENGE_TTL_MS))
    return challenge
  }

  const failed = (reason: PasskeyFailure) => ({ outcome: 'failed' as const, reason })

  return {
    signInCompleted: (signIn, audit) => signInSucceeded({ throttle: deps.throttle, audit }, signIn),
    rpId,
    async registrationOptions(slot, user) {
      const existing = await passkeys.listForUser(user.id)
      return (await webauthn()).generateRegistrationOptions({
        rpName: deps.rpName,
        rpID: rpId,
        userName: user.username,
        userDisplayName: user.name ?? user.username,
        userID: webauthnUserId(user.id),
        challenge: await newChallenge(slot),
        timeout: PASSKEY_CHALLENGE_TTL_MS,
        attestationType: 'none',
        // One passkey per authenticator: the browser refuses to make a second one.
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
        // Discoverable (so a passkey alone signs in, no username) and unlocked by the user
        // (so a passkey alone counts as two factors).
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      })
    },

    async register(slot, input) {
      const taken = await takeChallenge(slot, clock.now())
      if ('reason' in taken) return failed(taken.reason)
      if (!isRegistrationJson(input.response)) return failed('invalid')
      let verified
      try {
        verified = await (await webauthn()).verifyRegistrationResponse({
          response: input.response,
          expectedChallenge: taken.challenge,
          expectedOrigin,
          expectedRPID: rpId,
          requireUserVerification: true,
        })
      } catch {
        return failed('invalid')
      }
      if (!verified.verified) return failed('invalid')
      if ((await passkeys.listForUser(input.userId)).length >= MAX_PASSKEYS_PER_USER) return failed('too_many')
      const { credential, credentialBackedUp } = verified.registrationInfo
      // The id the authenticator data names is what is stored (passkeys.credential_id).
      if (credential.id.length > MAX_CREDENTIAL_ID_LENGTH) return failed('invalid')
      const now = clock.now()
      const passkey: Passkey = {
        credentialId: credential.id,
        userId: input.userId,
        publicKey: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        transports: (credential.transports ?? []).filter((t) => typeof t === 'string' && t.length <= 32).slice(0, 8),
        name: input.name,
        backedUp: credentialBackedUp,
        createdAt: now,
        lastUsedAt: null,
      }
      if (!(await passkeys.add(passkey))) return failed('duplicate')
      return { outcome: 'ok', passkey }
    },

    async authenticationOptions(slot, userId) {
      const allow = userId === undefined ? [] : await passkeys.listForUser(userId)
      return (await webauthn()).generateAuthenticationOptions({
        rpID: rpId,
        allowCredentials: allow.map((p) => ({ id: p.credentialId, transports: p.transports })),
        challenge: await newChallenge(slot),
        timeout: PASSKEY_CHALLENGE_TTL_MS,
        userVerification: 'required',
      })
    },

    async authenticate(slot, input, audit) {
      const { ip } = input
      // The address first, as for a password: once over its limit, nothing is checked.
      const address = await deps.addressLimit.start(ip)
      if (!address.allowed) {
        const { retryAfterSeconds, first } = address.refusal
        if (first) audit.record({ event: 'signin_throttled', limit: 'address', via: 'passkey', retryAfterSeconds })
        return { outcome: 'addressLimited', retryAfterSeconds }
      }
      const pending = input.userId === undefined ? undefined : await deps.users.findById(input.userId)
      // The second factor: the username throttle too, as a wrong code would count.
      const attempt = pending === undefined ? undefined : await deps.throttle.start(pending.username, ip)
      if (attempt !== undefined && !attempt.allowed) {
        await deps.addressLimit.notFailed(ip)
        return { outcome: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds }
      }
      /**
       * The failure goes to the audit log as what it was: a passkey alone is a sign-in
       * (signin_failed, with the user once the passkey is known), after a password the second
       * factor (mfa_failed). A counter that went back says so: a cloned authenticator, maybe.
       */
      const fail = (reason: PasskeyFailure, userId: string | undefined): PasskeySignIn => {
        const counter = reason === 'counter' ? { reason: 'counter_regressed' as const } : {}
        if (input.userId === undefined) audit.record({ event: 'signin_failed', via: 'passkey', ...(userId === undefined ? {} : { userId }), ...counter })
        else audit.record({ event: 'mfa_failed', userId: input.userId, method: 'passkey', ...counter })
        for (const { lock, failures, lockedUntil } of attempt?.allowed ? attempt.lockouts : []) {
          audit.record({ event: 'signin_locked', lock, failures, lockedUntil: new Date(lockedUntil).toISOString() })
        }
        return failed(reason)
      }

      if (input.userId !== undefined && (pending === undefined || pending.disabledAt !== null)) return fail('disabled', input.userId)
      const taken = await takeChallenge(slot, clock.now())
      if ('reason' in taken) return fail(taken.reason, input.userId)
      if (!isAuthenticationJson(input.response)) return fail('invalid', input.userId)
      const response = input.response
      const passkey = await passkeys.findByCredentialId(response.id)
      if (passkey === undefined) return fail('unknown_credential', input.userId)
      if (input.userId !== undefined && passkey.userId !== input.userId) return fail('wrong_user', input.userId)
      // WebAuthn §7.2 step 6: the user handle, when given, names the credential's owner; a
      // discoverable credential (no username) must give it.
      const handle = response.response.userHandle
      const expectedHandle = Buffer.from(webauthnUserId(passkey.userId)).toString('base64url')
      if ((handle === undefined && input.userId === undefined) || (handle !== undefined && handle !== expectedHandle)) {
        return fail('wrong_user', passkey.userId)
      }
      let verified
      try {
        verified = await (await webauthn()).verifyAuthenticationResponse({
          response,
          expectedChallenge: taken.challenge,
          expectedOrigin,
          expectedRPID: rpId,
          // The counter is checked below, atomically with its update; 0 here lets any through.
          credential: { id: passkey.credentialId, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: 0, transports: passkey.transports },
          requireUserVerification: true,
        })
      } catch {
        return fail('invalid', passkey.userId)
      }
      if (!verified.verified || !verified.authenticationInfo.userVerified) return fail('invalid', passkey.userId)
      if (!(await passkeys.recordUse(passkey.credentialId, verified.authenticationInfo.newCounter, clock.now()))) {
        return fail('counter', passkey.userId)
      }
      const user = pending ?? (await deps.users.findById(passkey.userId))
      // A disabled user fails as any other failure does.
      if (user === undefined || user.disabledAt !== null) return fail('disabled', passkey.userId)
      // Not yet a failure of this address; the username's count goes once the sign-in is
      // complete (signInCompleted), as after a right code.
      await deps.addressLimit.notFailed(ip)
      return { outcome: 'ok', user, passkey: { ...passkey, counter: verified.authenticationInfo.newCounter } }
    },
  }
}
