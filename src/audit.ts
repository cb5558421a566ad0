/**
 * Security events (the audit log): one structured line each, written whatever LOG_LEVEL says,
 * with ids only: never a password, secret, code, token or cookie. README lists the events.
 */
export type AuditEvent =
  /**
   * A user signed in (login page or password grant), with every factor the sign-in needed;
   * `amr`: the methods used (RFC 8176: pwd, otp, hwk, mfa). A right password with a second
   * factor still to come is not yet one.
   */
  | { event: 'signin_succeeded'; userId: string; via: SignInChannel; amr: string[] }
  /** Wrong username or password (the username is not logged: people type passwords into it). */
  | { event: 'signin_failed'; userId?: string | undefined; via: SignInChannel; reason?: 'counter_regressed' }
  /**
   * The password grant refused a right password: the user must sign in with a second factor
   * (the user has one, MFA_REQUIRED=all, or the client's --require-mfa), which this grant cannot ask.
   */
  | { event: 'password_grant_refused'; userId: string; clientId: string; reason: 'second_factor_required' }
  /**
   * /token refused a refresh token, authorization code or device code because the sign-in behind
   * it no longer meets what is required (--require-mfa set since, MFA_REQUIRED=all, or the user
   * enrolled a second factor): for a refresh token its family is revoked (`familyId`).
   */
  | { event: 'grant_refused'; userId: string; clientId: string; grant: string; reason: 'second_factor_required'; familyId?: string | undefined }
  /** An address over its sign-in failure limit: from now on refused unchecked (once per window). */
  | { event: 'signin_throttled'; limit: 'address'; via: SignInChannel; retryAfterSeconds: number }
  /**
   * GET /authorize refused: the address holds too many open authorization requests; or
   * /device_authorization (too many live device codes), or the device page (too many wrong user
   * codes, once per window).
   */
  | { event: 'authorize_throttled'; limit: 'open_transactions' | 'open_device_authorizations' | 'user_code_failures'; retryAfterSeconds: number }
  /**
   * The verification page (/device) refuses every user code, from every address, for the rest of
   * the window: too many wrong codes from all addresses together, a sign of someone guessing
   * from many addresses (once per window).
   */
  | { event: 'device_code_guessing'; retryAfterSeconds: number }
  /**
   * A failure that started a lock on a username (from one address, or from everywhere): sign-ins
   * to it are refused unchecked until `lockedUntil`.
   */
  | { event: 'signin_locked'; lock: 'address' | 'username'; failures: number; lockedUntil: string }
  /**
   * Client authentication failed at /token, /revoke or /introspect: each failure up to the limit,
   * then the first one answered 429 (`throttled`) in its window. The client_id only when it has
   * latchkey's shape (a secret pasted into it is never logged).
   */
  | { event: 'client_auth_failed'; clientId: string | undefined; throttled: boolean }
  /** The consent page was answered; for a device (RFC 8628), `via: 'device'` and the device authorization's id. */
  | { event: 'consent_given'; userId: string; clientId: string; scopes: string[]; resource: string; via?: 'device'; deviceAuthorizationId?: string }
  | { event: 'consent_denied'; userId: string; clientId: string; via?: 'device'; deviceAuthorizationId?: string }
  /** /device_authorization gave a client a device code and user code (RFC 8628 §3.2): ids only, never the codes. */
  | { event: 'device_authorization_started'; clientId: string; network: string; deviceAuthorizationId: string }
  /** Tokens from /token: the access token's jti, and the refresh-token family when there is one. */
  | { event: 'tokens_issued'; grant: string; clientId: string; subject: string; jti: string; familyId?: string | undefined; idToken: boolean }
  /** A rotated refresh token came back: its family is revoked (RFC 9700 §4.14.2). */
  | { event: 'refresh_token_reuse'; familyId: string; clientId: string; userId: string | null; familyRevoked: boolean }
  /**
   * A used authorization code came back: what it yielded is revoked (RFC 9700 §4.2.4). Or a
   * redeemed device code came back (`via: 'device'`): the code its approval wrote is revoked
   * the same way.
   */
  | { event: 'code_replay'; codeId: string; clientId: string; via?: 'device'; deviceAuthorizationId?: string }
  /** RFC 7009 revocation by the token's client. */
  | { event: 'token_revoked'; clientId: string; kind: 'refresh_token'; familyId: string }
  | { event: 'token_revoked'; clientId: string; kind: 'access_token'; jti: string }
  /** A login session ended at /logout. */
  | { event: 'logout'; userId?: string | undefined; clientId?: string | undefined }
  /**
   * Administration (CLI or admin API): `actor` is the acting admin client's client_id, or `cli`.
   * Ids and field names only, never a value that could be a secret.
   */
  | { event: 'user_created'; userId: string; actor?: string | undefined }
  | { event: 'user_updated'; userId: string; fields: string[]; actor: string }
  | { event: 'user_password_set'; userId: string; actor: string }
  | { event: 'user_disabled'; userId: string; actor: string }
  | { event: 'user_enabled'; userId: string; actor: string }
  | { event: 'user_removed'; userId: string; actor: string }
  | { event: 'client_created'; clientId: string; public: boolean; grants: string[]; admin?: boolean; actor?: string | undefined }
  | { event: 'client_updated'; clientId: string; fields: string[]; actor: string }
  | { event: 'client_secret_rotated'; clientId: string; graceSeconds: number; actor: string }
  | { event: 'client_removed'; clientId: string; actor: string }
  | { event: 'scope_added'; scope: string; actor: string }
  | { event: 'scope_removed'; scope: string; actor: string }
  | { event: 'grants_revoked'; userId: string; clientId?: string | undefined; consents: number; families: number; actor: string }
  | { event: 'sessions_revoked'; userId: string; sessions: number; actor: string }
  /**
   * Dynamic registration (RFC 7591 / 7592): a client registered itself (`mode`: open, or with an
   * initial access token), changed or deleted its registration; an address past
   * LIMIT_REGISTRATIONS_PER_ADDRESS (once per window); `registration-token create` made an
   * initial access token (its expiry only, never the token).
   */
  | { event: 'client_registered'; clientId: string; public: boolean; grants: string[]; mode: 'open' | 'token' }
  | { event: 'client_registration_updated'; clientId: string }
  | { event: 'client_registration_deleted'; clientId: string }
  | { event: 'registration_throttled'; retryAfterSeconds: number; limit?: 'server' }
  | { event: 'registration_token_created'; expiresAt: string }
  /**
   * Second factors (no code or secret, ever). `actor` when an administrator acted (`cli`).
   * mfa_enrolled: an authenticator app confirmed, or a passkey registered; mfa_removed: one
   * removed; recovery_code_used: one spent (`left` unused remain); mfa_failed: a wrong app code,
   * recovery code or passkey at sign-in; recovery_codes_regenerated: new codes replaced the
   * old; mfa_reset: every factor removed (`user mfa reset`).
   */
  | { event: 'mfa_enrolled'; userId: string; method: SecondFactorMethod; actor?: string | undefined }
  | { event: 'mfa_removed'; userId: string; method: SecondFactorMethod; actor?: string | undefined }
  | { event: 'recovery_code_used'; userId: string; left: number }
  | { event: 'mfa_failed'; userId: string; method: SecondFactorMethod | 'recovery_code'; reason?: 'counter_regressed' }
  | { event: 'recovery_codes_regenerated'; userId: string; actor?: string | undefined }
  | { event: 'mfa_reset'; userId: string; actor?: string | undefined }
  /**
   * The user's authenticator-app secret did not open with KEYS_DIR/totp.key (sealed under another
   * key, or altered): their app codes fail until it is restored or `user mfa reset`; recovery
   * codes and passkeys still work. Never the secret.
   */
  | { event: 'mfa_key_mismatch'; userId: string }
  /** A signing key was added: by `keys rotate` (`--now`: `immediate`), by KEY_ROTATION_DAYS, or because SIGNING_ALG names an algorithm KEYS_DIR had no key of (`configuration`). */
  | { event: 'key_rotated'; kid: string; alg: string; signsFrom: string; by: 'command' | 'immediate' | 'schedule' | 'configuration' }
  /** `keys retire`: the key is no longer published or trusted. */
  | { event: 'key_retired'; kid: string; alg: string }

/** `passkey`: a passkey alone, from the sign-in page. */
export type SignInChannel = 'login_page' | 'password_grant' | 'passkey'

export type SecondFactorMethod = 'totp' | 'passkey'

/** Every event name, for the README's list and the tests. */
export const AUDIT_EVENTS = [
  'signin_succeeded',
  'signin_failed',
  'signin_throttled',
  'password_grant_refused',
  'grant_refused',
  'signin_locked',
  'authorize_throttled',
  'device_code_guessing',
  'client_auth_failed',
  'consent_given',
  'consent_denied',
  'device_authorization_started',
  'tokens_issued',
  'refresh_token_reuse',
  'code_replay',
  'token_revoked',
  'logout',
  'user_created',
  'user_updated',
  'user_password_set',
  'user_disabled',
  'user_enabled',
  'user_removed',
  'client_created',
  'client_updated',
  'client_secret_rotated',
  'client_removed',
  'scope_added',
  'scope_removed',
  'grants_revoked',
  'sessions_revoked',
  'key_rotated',
  'key_retired',
  'client_registered',
  'client_registration_updated',
  'client_registration_deleted',
  'registration_throttled',
  'registration_token_created',
  'mfa_enrolled',
  'mfa_removed',
  'mfa_failed',
  'recovery_code_used',
  'recovery_codes_regenerated',
  'mfa_reset',
  'mfa_key_mismatch',
] as const satisfies readonly AuditEvent['event'][]

export interface AuditLog {
  record(event: AuditEvent): void
}

/** The request an event happened in: its id, to join it to the request log, and the caller's address. */
export interface AuditContext {
  requestId: string
  ip: string
}

/** pino's shape (fastify's logger): a child at `info` whatever the parent's level. */
export interface AuditSink {
  child(bindings: Record<string, unknown>, options: { level: string }): { info(details: Record<string, unknown>, message: string): void }
}

/** The app's audit log: `inRequest` binds one request's context to the events it records. */
export interface AppAudit extends AuditLog {
  inRequest(context: AuditContext): AuditLog
}

/** Audit lines through the app's logger, at info even when LOG_LEVEL is warn, error or silent. */
export function loggerAudit(logger: AuditSink): AppAudit {
  const out = logger.child({ audit: true }, { level: 'info' })
  const write = (event: AuditEvent, context?: AuditContext) => out.info({ ...event, ...context }, `audit: ${event.event}`)
  return {
    record: (event) => write(event),
    inRequest: (context) => ({ record: (event) => write(event, context) }),
  }
}

/** For code with nothing to report to (and tests that do not read the log). */
export const NO_AUDIT: AppAudit = { record() {}, inRequest: () => NO_AUDIT }
