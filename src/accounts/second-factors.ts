/**
 * Authenticator-app codes (RFC 6238) and recovery codes: what a user enrolled and the checks of
 * a code. Free of HTTP; the sign-in pages, /account/security and the CLI use it. Passkeys are
 * src/accounts/passkeys.ts; `status` counts them so the sign-in knows whether a user has a factor.
 * Implemented by `secondFactors(deps)` (src/accounts/totp.ts), which records mfa_enrolled,
 * mfa_removed, recovery_code_used, recovery_codes_regenerated and mfa_reset in `deps.audit`
 * (build one per request with `request.audit`); a wrong code (mfa_failed) is the caller's to
 * record, with the throttle it counts against.
 */

/** What a user has enrolled. */
export interface FactorStatus {
  /** A confirmed authenticator-app secret. */
  totp: boolean
  /** Registered passkeys. */
  passkeys: number
  /** Unused recovery codes. */
  recoveryCodesLeft: number
}

/** An authenticator-app secret being enrolled: shown once, as a QR code and as text. */
export interface TotpEnrolment {
  /** Base32, as authenticator apps take it typed in. */
  secret: string
  /** otpauth://totp/… (issuer: the brand name; label: the username). */
  otpauthUri: string
}

export interface SecondFactors {
  status(userId: string): Promise<FactorStatus>
  /** Whether the user has a second factor: a confirmed authenticator app or a passkey. */
  hasFactor(userId: string): Promise<boolean>
  /**
   * Starts (or restarts) an enrolment: a new secret, stored unconfirmed, replacing one not yet
   * confirmed. Undefined when the user already has a confirmed one (remove it first).
   */
  beginTotp(userId: string, username: string): Promise<TotpEnrolment | undefined>
  /**
   * Confirms the enrolment in progress with a first code from the app. On success: ten new
   * recovery codes (replacing any), shown to the user once. Undefined: wrong code, or nothing
   * to confirm.
   */
  confirmTotp(userId: string, code: string): Promise<{ recoveryCodes: string[] } | undefined>
  /**
   * A code from the app, within ±1 time step; each time step is accepted once (a code seen
   * before, or one older than the last accepted, is refused), atomically across instances.
   */
  verifyTotp(userId: string, code: string): Promise<boolean>
  /** A recovery code, accepted once (atomically). Any case, with or without the hyphens. */
  useRecoveryCode(userId: string, code: string): Promise<boolean>
  /** Ten new recovery codes replacing the old ones; undefined without a second factor. */
  regenerateRecoveryCodes(userId: string): Promise<string[] | undefined>
  /** Removes the authenticator app (and the recovery codes when no passkey remains). */
  removeTotp(userId: string): Promise<void>
  /** Removes every factor of the user: app, recovery codes and passkeys (`user mfa reset`). */
  resetAll(userId: string): Promise<void>
  /**
   * Enrols a confirmed secret directly, with ten new recovery codes, for scripted set-ups
   * (`user totp add`). Undefined when the user already has a confirmed one.
   */
  addConfirmedTotp(userId: string, username: string): Promise<(TotpEnrolment & { recoveryCodes: string[] }) | undefined>
}
