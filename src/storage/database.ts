import type { Generated, Insertable, Selectable } from 'kysely'

/*
 * Storage convention (one place, both dialects):
 * - times are epoch milliseconds in `bigint` columns, read back as numbers (see connect.ts);
 * - booleans are `integer` 0/1;
 * - lists are JSON text.
 * convert.ts turns these into domain values.
 */

export interface UsersTable {
  id: string
  username: string
  password_hash: string
  email: string | null
  name: string | null
  created_at: number
  /** Set while the user is disabled: no sign-in, refresh or /userinfo. */
  disabled_at: Generated<number | null>
}

export interface ClientsTable {
  id: string
  name: string
  secret_hash: string | null
  is_public: number
  redirect_uris: string
  post_logout_redirect_uris: string
  grant_types: string
  scopes: string
  audience: string | null
  /** The audiences (RFC 8707 resources) the client may request; empty: DEFAULT_AUDIENCE only. */
  resources: string
  created_at: number
  /** After a rotation with a grace period: the old secret's hash, valid until the time below. */
  previous_secret_hash: Generated<string | null>
  previous_secret_expires_at: Generated<number | null>
  /** 1 for a client that registered itself (RFC 7591), 0 for one an administrator added. */
  self_registered: Generated<number>
  /** SHA-256 (hex) of a self-registered client's registration access token (RFC 7592). */
  registration_token_hash: Generated<string | null>
  /** The token_endpoint_auth_method a self-registered client registered, echoed back on read. */
  token_endpoint_auth_method: Generated<string | null>
  /** When a token was last issued to a self-registered client (to the hour); null: never. */
  last_used_at: Generated<number | null>
  /** The client accepts only a sign-in with two factors or a passkey (client add --require-mfa). */
  require_mfa: Generated<number>
}

/** RFC 7591 §3: initial access tokens for REGISTRATION=token, single use, stored as hashes. */
export interface InitialAccessTokensTable {
  token_hash: string
  created_at: number
  expires_at: number
  used_at: number | null
}

/** The web origins of each client's redirect URIs, as SHA-256 hashes (CORS preflight lookups). */
export interface ClientOriginsTable {
  origin_hash: string
  client_id: string
}

export interface ScopesTable {
  name: string
  description: string
}

export interface AuthorizationTransactionsTable {
  id: string
  browser_hash: string
  csrf_hash: string
  client_id: string
  redirect_uri: string
  state: string | null
  scopes: string
  resource: string
  code_challenge: string | null
  code_challenge_method: string | null
  force_consent: number
  user_id: string | null
  auth_time: number | null
  created_at: number
  expires_at: number
  completed_at: number | null
  nonce: string | null
  login_hint: string | null
  max_age: number | null
  /** clientNetwork() of the address that opened it, for the cap on open transactions. */
  address: string | null
  /** The pages' language from ui_locales (a tag such as `de`), or null. */
  ui_locale: string | null
  /** Set when the transaction was opened from the device verification page (RFC 8628 §3.3). */
  device_authorization_id: Generated<string | null>
  /** RFC 8176 methods as a JSON list; null: an older row, a password sign-in. */
  amr: Generated<string | null>
  /** Password checked, second factor still to come: this user is not signed in yet. */
  pending_user_id: Generated<string | null>
  pending_amr: Generated<string | null>
  /** The WebAuthn challenge of the passkey ceremony the login or second-factor page started. */
  passkey_challenge: Generated<string | null>
  /** OIDC Core §3.1.2.1 acr_values, space-separated, as requested. */
  acr_values: Generated<string | null>
}

export interface LoginSessionsTable {
  id_hash: string
  user_id: string
  auth_time: number
  created_at: number
  expires_at: number
  /** RFC 8176 methods as a JSON list; null: an older row, a password sign-in. */
  amr: Generated<string | null>
  /** The WebAuthn challenge of a passkey registration in progress on /account/security. */
  passkey_challenge: Generated<string | null>
}

export interface ConsentsTable {
  client_id: string
  user_id: string
  /** The RFC 8707 audience the consent was given for. */
  resource: string
  scopes: string
  created_at: number
  updated_at: number
}

export interface AuthorizationCodesTable {
  id: string
  code_hash: string
  client_id: string
  user_id: string
  redirect_uri: string
  scopes: string
  resource: string
  code_challenge: string | null
  code_challenge_method: string | null
  auth_time: number
  created_at: number
  expires_at: number
  used_at: number | null
  family_id: string | null
  nonce: string | null
  /** RFC 8176 methods as a JSON list; null: an older row, a password sign-in. */
  amr: Generated<string | null>
}

export interface RefreshTokenFamiliesTable {
  id: string
  client_id: string
  user_id: string | null
  scopes: string
  audience: string
  auth_time: number | null
  began_with_openid: number
  created_at: number
  revoked_at: number | null
  /** RFC 8176 methods as a JSON list; null: an older row, a password sign-in. */
  amr: Generated<string | null>
}

export interface RefreshTokensTable {
  token_hash: string
  family_id: string
  created_at: number
  expires_at: number
  rotated_at: number | null
}

export interface AccessTokensTable {
  jti: string
  client_id: string
  code_id: string | null
  family_id: string | null
  created_at: number
  expires_at: number
}

export interface RevokedJtisTable {
  jti: string
  revoked_at: number
  expires_at: number
}

export interface LoginAttemptsTable {
  key_hash: string
  failures: number
  locked_until: number | null
  expires_at: number
}

/** Failures counted against a key over a fixed window; the row is dead once expires_at has passed. */
export interface FailureCountersTable {
  key_hash: string
  failures: number
  expires_at: number
}

export interface DeviceAuthorizationsTable {
  id: string
  device_code_hash: string
  /** SHA-256 of the normalized user code (8 letters, no hyphen, upper case). */
  user_code_hash: string
  client_id: string
  scopes: string
  resource: string
  /** pending, approved or denied. */
  status: string
  user_id: string | null
  auth_time: number | null
  /** The authorization code the approval wrote; null until approved (or once purged). */
  code_id: string | null
  interval_seconds: number
  last_polled_at: number | null
  address: string
  created_at: number
  expires_at: number
  redeemed_at: number | null
  /** RFC 8176 methods as a JSON list; null: an older row, a password sign-in. */
  amr: Generated<string | null>
}

/** An authenticator-app secret (RFC 6238), encrypted; unconfirmed: an enrolment in progress. */
export interface TotpFactorsTable {
  user_id: string
  secret: string
  created_at: number
  confirmed_at: number | null
  /** The last time step a code was accepted for: a code is never accepted twice. */
  last_step: number | null
}

/** A single-use recovery code, as its SHA-256 hash. */
export interface RecoveryCodesTable {
  code_hash: string
  user_id: string
  created_at: number
  used_at: number | null
}

/** A WebAuthn credential (passkey), found by its credential id (base64url). */
export interface PasskeysTable {
  credential_id: string
  user_id: string
  /** The COSE public key, base64url. */
  public_key: string
  counter: number
  /** JSON list of authenticator transports. */
  transports: string
  name: string
  backed_up: number
  created_at: number
  last_used_at: number | null
}

/** The sign-in that leads to /account/security: bound to a browser and its forms like a transaction. */
export interface AccountSignInsTable {
  id: string
  browser_hash: string
  csrf_hash: string
  address: string
  ui_locale: string | null
  pending_user_id: string | null
  pending_amr: string | null
  passkey_challenge: string | null
  created_at: number
  expires_at: number
  completed_at: number | null
}

export interface Database {
  users: UsersTable
  clients: ClientsTable
  scopes: ScopesTable
  authorization_transactions: AuthorizationTransactionsTable
  login_sessions: LoginSessionsTable
  consents: ConsentsTable
  authorization_codes: AuthorizationCodesTable
  refresh_token_families: RefreshTokenFamiliesTable
  refresh_tokens: RefreshTokensTable
  access_tokens: AccessTokensTable
  revoked_jtis: RevokedJtisTable
  login_attempts: LoginAttemptsTable
  failure_counters: FailureCountersTable
  initial_access_tokens: InitialAccessTokensTable
  device_authorizations: DeviceAuthorizationsTable
  client_origins: ClientOriginsTable
  totp_factors: TotpFactorsTable
  recovery_codes: RecoveryCodesTable
  passkeys: PasskeysTable
  account_sign_ins: AccountSignInsTable
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type ClientRow = Selectable<ClientsTable>
export type NewClientRow = Insertable<ClientsTable>
export type ScopeRow = Selectable<ScopesTable>
export type AuthorizationTransactionRow = Selectable<AuthorizationTransactionsTable>
export type LoginSessionRow = Selectable<LoginSessionsTable>
export type ConsentRow = Selectable<ConsentsTable>
export type AuthorizationCodeRow = Selectable<AuthorizationCodesTable>
export type RefreshTokenFamilyRow = Selectable<RefreshTokenFamiliesTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>
export type DeviceAuthorizationRow = Selectable<DeviceAuthorizationsTable>
export type TotpFactorRow = Selectable<TotpFactorsTable>
export type PasskeyRow = Selectable<PasskeysTable>
export type AccountSignInRow = Selectable<AccountSignInsTable>
