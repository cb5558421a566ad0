import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { HOTP, Secret, TOTP } from 'otpauth'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import type { SecondFactorRepository } from '../storage/second-factors.js'
import type { SecondFactors, TotpEnrolment } from './second-factors.js'

/**
 * SecondFactors over the database: RFC 6238 with what every authenticator app takes (SHA-1,
 * 6 digits, 30 s), secrets sealed at rest (src/keys/secret-box.ts), recovery codes stored as hashes.
 *
 * Events recorded here: mfa_enrolled, mfa_removed, recovery_code_used,
 * recovery_codes_regenerated, mfa_reset, mfa_key_mismatch. A wrong code is the caller's to record (mfa_failed),
 * with the throttle it counts against: only the caller knows whether a failed app code is
 * then tried as a recovery code. It is cheap to build: pages build one per request with
 * `audit: request.audit`.
 */
/** Encryption at rest of the secrets (src/keys/secret-box.ts: AES-256-GCM under KEYS_DIR/totp.key). */
export interface SecretBox {
  seal(plain: string, context: string): Promise<string>
  open(sealed: string, context: string): Promise<string>
}

export interface SecondFactorDeps {
  factors: SecondFactorRepository
  /** Seals the secrets; in the app `deps.totpSecrets` (KEYS_DIR/totp.key unless a test swaps it). */
  secrets: SecretBox
  clock: Clock
  /** The issuer shown in authenticator apps: BRAND_NAME (config.brand.name). */
  issuer: string
  audit: AuditLog
  /** Who acts, on administrative events (`cli`); absent when the user acts. */
  actor?: string
}

export const TOTP_PERIOD_SECONDS = 30
export const TOTP_DIGITS = 6
const TOTP_ALGORITHM = 'SHA1'
/** RFC 4226 §4 recommends 160 bits. */
const SECRET_BYTES = 20
/** RFC 6238 §5.2: one step either side for clock drift and typing time, no more. */
const WINDOW = 1
/** An enrolment not confirmed within a day is abandoned (the purge removes it). */
export const TOTP_ENROLMENT_TTL_MS = 86_400_000

export const RECOVERY_CODE_COUNT = 10
/** Crockford's base32: no i, l, o or u to misread; 16 characters = 80 bits. */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
const RECOVERY_CODE = /^[0-9a-hjkmnp-tv-z]{16}$/

/** The RFC 6238 time step at `ms`. */
export function totpStep(ms: number): number {
  return Math.floor(ms / 1000 / TOTP_PERIOD_SECONDS)
}

/** The code of `secret` (base32) at time step `step`. */
export function totpCode(secret: string, step: number): string {
  return HOTP.generate({ secret: Secret.fromBase32(secret), algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, counter: step })
}

/** A code as typed, spaces removed, if it has a TOTP code's shape (six digits); else undefined. */
function codeShape(code: string): string | undefined {
  if (code.length > 64) return undefined
  const typed = code.replace(/\s/g, '')
  return /^\d{6}$/.test(typed) ? typed : undefined
}

/**
 * The time steps within the window whose code is `typed` (already shaped by codeShape: six
 * digits), oldest first. Every step is computed and compared in constant time (timingSafeEqual
 * on equal lengths), whichever matches.
 */
function matchingSteps(secret: string, typed: string, now: number): number[] {
  const given = Buffer.from(typed)
  const current = totpStep(now)
  const matches: number[] = []
  for (let step = current - WINDOW; step <= current + WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(totpCode(secret, step)), given)) matches.push(step)
  }
  return matches
}

function newRecoveryCode(): string {
  // 10 random bytes are 80 bits: 16 characters of 5 bits each.
  const bytes = randomBytes(10)
  let bits = 0n
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte)
  let code = ''
  for (let i = 15; i >= 0; i--) code += RECOVERY_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)]
  return code.match(/.{4}/g)!.join('-')
}

/**
 * A recovery code as typed into its canonical form: any case, hyphens and spaces dropped, and
 * the letters Crockford's base32 reads as digits (i, l → 1; o → 0). Undefined: cannot be one.
 */
export function normalizeRecoveryCode(typed: string): string | undefined {
  if (typed.length > 64) return undefined
  const code = typed.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0')
  return RECOVERY_CODE.test(code) ? code : undefined
}

/**
 * SHA-256, unsalted and fast: a recovery code carries 80 random bits, so no guessing against a
 * stolen hash is feasible and a slow password hash would add nothing but cost.
 */
export function recoveryCodeHash(canonical: string): string {
  return createHash('sha256').update(`latchkey-recovery:${canonical}`).digest('hex')
}

function newRecoveryCodes(): { codes: string[]; hashes: string[] } {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
  return { codes, hashes: codes.map((code) => recoveryCodeHash(normalizeRecoveryCode(code)!)) }
}

export function secondFactors(deps: SecondFactorDeps): SecondFactors {
  const { factors, secrets, clock } = deps
  const actor = deps.actor === undefined ? {} : { actor: deps.actor }

  const enrolment = (secret: string, username: string): TotpEnrolment => ({
    secret,
    otpauthUri: new TOTP({
      issuer: deps.issuer,
      label: username,
      algorithm: TOTP_ALGORITHM,
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
      secret: Secret.fromBase32(secret),
    }).toString(),
  })
  const newSecret = () => new Secret({ size: SECRET_BYTES }).base32
  /**
   * The stored secret in the clear, or undefined when it does not open: sealed under another key
   * (a CLI run with another KEYS_DIR, a lost totp.key) or altered. The app's codes then fail,
   * recovery codes and passkeys still work, and `mfa_key_mismatch` says why (no secret in it).
   */
  const openSecret = async (userId: string, sealed: string): Promise<string | undefined> => {
    try {
      return await secrets.open(sealed, userId)
    } catch {
      deps.audit.record({ event: 'mfa_key_mismatch', userId })
      return undefined
    }
  }

  return {
    async status(userId) {
      const [totp, passkeys, recoveryCodesLeft] = await Promise.all([factors.findTotp(userId), factors.countPasskeys(userId), factors.recoveryCodesLeft(userId)])
      return { totp: totp?.confirmedAt != null, passkeys, recoveryCodesLeft }
    },

    hasFactor: (userId) => factors.hasFactor(userId),

    async beginTotp(userId, username) {
      const secret = newSecret()
      const stored = await factors.beginTotp(userId, await secrets.seal(secret, userId), clock.now())
      return stored ? enrolment(secret, username) : undefined
    },

    async confirmTotp(userId, code) {
      // The shape first: a malformed code costs no lookup and no decryption.
      const typed = codeShape(code)
      if (typed === undefined) return undefined
      const now = clock.now()
      const row = await factors.findTotp(userId)
      if (row === undefined || row.confirmedAt !== null || row.createdAt <= now - TOTP_ENROLMENT_TTL_MS) return undefined
      const secret = await openSecret(userId, row.sealedSecret)
      if (secret === undefined) return undefined
      const steps = matchingSteps(secret, typed, now)
      if (steps.length === 0) return undefined
      const { codes, hashes } = newRecoveryCodes()
      // The first code's step is recorded as used: it cannot be replayed at the next sign-in.
      if (!(await factors.confirmTotp(userId, row.sealedSecret, steps[steps.length - 1]!, now, hashes))) return undefined
      deps.audit.record({ event: 'mfa_enrolled', userId, method: 'totp', ...actor })
      return { recoveryCodes: codes }
    },

    async verifyTotp(userId, code) {
      const typed = codeShape(code)
      if (typed === undefined) return false
      const row = await factors.findTotp(userId)
      if (row === undefined || row.confirmedAt === null) return false
      const secret = await openSecret(userId, row.sealedSecret)
      if (secret === undefined) return false
      const last = row.lastStep ?? -Infinity
      const step = matchingSteps(secret, typed, clock.now()).find((s) => s > last)
      if (step === undefined) return false
      return factors.acceptStep(userId, row.sealedSecret, step)
    },

    async useRecoveryCode(userId, code) {
      const canonical = normalizeRecoveryCode(code)
      if (canonical === undefined) return false
      if (!(await factors.useRecoveryCode(userId, recoveryCodeHash(canonical), clock.now()))) return false
      deps.audit.record({ event: 'recovery_code_used', userId, left: await factors.recoveryCodesLeft(userId) })
      return true
    },

    async regenerateRecoveryCodes(userId) {
      if (!(await factors.hasFactor(userId))) return undefined
      const { codes, hashes } = newRecoveryCodes()
      await factors.replaceRecoveryCodes(userId, hashes, clock.now())
      deps.audit.record({ event: 'recovery_codes_regenerated', userId, ...actor })
      return codes
    },

    async removeTotp(userId) {
      if (await factors.removeTotp(userId)) deps.audit.record({ event: 'mfa_removed', userId, method: 'totp', ...actor })
    },

    async resetAll(userId) {
      await factors.resetAll(userId)
      deps.audit.record({ event: 'mfa_reset', userId, ...actor })
    },

    async addConfirmedTotp(userId, username) {
      const secret = newSecret()
      const { codes, hashes } = newRecoveryCodes()
      if (!(await factors.addConfirmedTotp(userId, await secrets.seal(secret, userId), clock.now(), hashes))) return undefined
      deps.audit.record({ event: 'mfa_enrolled', userId, method: 'totp', ...actor })
      return { ...enrolment(secret, username), recoveryCodes: codes }
    },
  }
}
