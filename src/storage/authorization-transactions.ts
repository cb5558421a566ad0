import type { Kysely } from 'kysely'
import { passkeyChallengeSlot } from './passkey-challenges.js'
import { fromDbAmr, toDbAmr, type AuthMethod } from './convert.js'
import type { AuthorizationTransactionRow, Database } from './database.js'
import { fromDbBool, fromDbList, fromDbTime, toDbBool, toDbList } from './convert.js'
import { countOpenRows, type OpenCount } from './open-count.js'

/** What an authorization request asks for, carried unchanged from the request to the code. */
export interface AuthorizationGrant {
  clientId: string
  redirectUri: string
  state: string | null
  scopes: string[]
  resource: string
  codeChallenge: string | null
  codeChallengeMethod: string | null
  /** OIDC Core §3.1.2.1: carried through the code into the ID token. */
  nonce: string | null
}

/** An authorization request in progress, between GET /authorize and the code (or the denial). */
export interface AuthorizationTransaction extends AuthorizationGrant {
  id: string
  /** SHA-256 of the browser cookie the transaction is bound to. */
  browserHash: string
  /** SHA-256 of the CSRF token the forms carry. */
  csrfHash: string
  forceConsent: boolean
  /** Set once the user has signed in (or a login session was found) for this transaction. */
  userId: string | null
  authTime: number | null
  /** How that user signed in (RFC 8176); null while nobody is. A row from before second factors reads as ["pwd"]. */
  amr: AuthMethod[] | null
  /** OIDC Core §3.1.2.1 acr_values, space-separated as requested; null when absent. */
  acrValues: string | null
  /**
   * The password (or first factor) was right but a second factor is still to come: this user
   * and the methods used so far. The user is not signed in (userId stays null) until it is done.
   */
  pendingUserId: string | null
  pendingAmr: AuthMethod[] | null
  /** The WebAuthn challenge of a passkey ceremony in progress for this transaction. */
  passkeyChallenge: string | null
  createdAt: number
  expiresAt: number
  completedAt: number | null
  /** OIDC Core §3.1.2.1: fills the username field of the login page. */
  loginHint: string | null
  /** OIDC Core §3.1.2.1: the sign-in must be this recent when the code is issued. */
  maxAgeSeconds: number | null
  /** The client network (clientNetwork of the address) that opened it; null for older rows. */
  address: string | null
  /** The pages' language, picked from the request's ui_locales; null: Accept-Language decides. */
  uiLocale: string | null
  /**
   * Opened from the device verification page (RFC 8628 §3.3): the device authorization the user
   * approves or denies at its end, instead of a code sent to a redirect URI. Absent: none.
   */
  deviceAuthorizationId?: string | null | undefined
}

export interface AuthorizationTransactionRepository {
  create(transaction: AuthorizationTransaction): Promise<void>
  findById(id: string): Promise<AuthorizationTransaction | undefined>
  /**
   * Records who signed in, when and how (and clears any pending sign-in), or forgets it (null:
   * switch user, max_age, a sign-in too weak for the request).
   */
  setUser(id: string, user: { userId: string; authTime: number; amr: readonly AuthMethod[] } | null): Promise<void>
  /**
   * Records a sign-in whose second factor is still to come (the transaction's user is cleared:
   * nobody is signed in yet), or forgets it (null).
   */
  setPending(id: string, pending: { userId: string; amr: readonly AuthMethod[] } | null): Promise<void>
  /** Stores (or, with null, clears) the WebAuthn challenge of the ceremony in progress. */
  setPasskeyChallenge(id: string, challenge: string | null): Promise<void>
  /**
   * The stored WebAuthn challenge, cleared in the same step: of concurrent calls, one gets it
   * (single use); null when none is stored.
   */
  takePasskeyChallenge(id: string): Promise<string | null>
  /** Marks the transaction finished; false when it already was (a second submit). */
  complete(id: string, now: number): Promise<boolean>
  /** Counts, from the (address, expires_at) index of uncompleted transactions, the open (neither completed nor expired) ones of an address. */
  countOpen(address: string, now: number, limit: number): Promise<OpenCount>
}

function toTransaction(row: AuthorizationTransactionRow): AuthorizationTransaction {
  return {
    id: row.id,
    browserHash: row.browser_hash,
    csrfHash: row.csrf_hash,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    state: row.state,
    scopes: fromDbList(row.scopes),
    resource: row.resource,
    codeChallenge: row.code_challenge,
    codeChallengeMethod: row.code_challenge_method,
    forceConsent: fromDbBool(row.force_consent),
    userId: row.user_id,
    authTime: row.auth_time === null ? null : fromDbTime(row.auth_time),
    // A signed-in row from before second factors has a null amr: a password sign-in.
    amr: row.user_id === null ? null : fromDbAmr(row.amr),
    acrValues: row.acr_values,
    pendingUserId: row.pending_user_id,
    pendingAmr: row.pending_user_id === null ? null : fromDbAmr(row.pending_amr),
    passkeyChallenge: row.passkey_challenge,
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
    completedAt: row.completed_at === null ? null : fromDbTime(row.completed_at),
    nonce: row.nonce,
    loginHint: row.login_hint,
    maxAgeSeconds: row.max_age === null ? null : Number(row.max_age),
    address: row.address,
    uiLocale: row.ui_locale,
    deviceAuthorizationId: row.device_authorization_id,
  }
}

export function authorizationTransactionRepository(db: Kysely<Database>): AuthorizationTransactionRepository {
  return {
    async create(tx) {
      await db
        .insertInto('authorization_transactions')
        .values({
          id: tx.id,
          browser_hash: tx.browserHash,
          csrf_hash: tx.csrfHash,
          client_id: tx.clientId,
          redirect_uri: tx.redirectUri,
          state: tx.state,
          scopes: toDbList(tx.scopes),
          resource: tx.resource,
          code_challenge: tx.codeChallenge,
          code_challenge_method: tx.codeChallengeMethod,
          force_consent: toDbBool(tx.forceConsent),
          user_id: tx.userId,
          auth_time: tx.authTime,
          amr: tx.amr === null ? null : toDbAmr(tx.amr),
          acr_values: tx.acrValues,
          pending_user_id: tx.pendingUserId,
          pending_amr: tx.pendingAmr === null ? null : toDbAmr(tx.pendingAmr),
          passkey_challenge: tx.passkeyChallenge,
          created_at: tx.createdAt,
          expires_at: tx.expiresAt,
          completed_at: tx.completedAt,
          nonce: tx.nonce,
          login_hint: tx.loginHint,
          max_age: tx.maxAgeSeconds,
          address: tx.address,
          ui_locale: tx.uiLocale,
          device_authorization_id: tx.deviceAuthorizationId ?? null,
        })
        .execute()
    },
    async findById(id) {
      const row = await db.selectFrom('authorization_transactions').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toTransaction(row)
    },
    async setUser(id, user) {
      await db
        .updateTable('authorization_transactions')
        .set({
          user_id: user?.userId ?? null,
          auth_time: user?.authTime ?? null,
          amr: user ? toDbAmr(user.amr) : null,
          pending_user_id: null,
          pending_amr: null,
        })
        .where('id', '=', id)
        .execute()
    },
    async setPending(id, pending) {
      await db
        .updateTable('authorization_transactions')
        .set({
          user_id: null,
          auth_time: null,
          amr: null,
          pending_user_id: pending?.userId ?? null,
          pending_amr: pending ? toDbAmr(pending.amr) : null,
        })
        .where('id', '=', id)
        .execute()
    },
    setPasskeyChallenge(id, challenge) {
      return passkeyChallengeSlot(db, { table: 'authorization_transactions', id }).set(challenge)
    },
    takePasskeyChallenge(id) {
      return passkeyChallengeSlot(db, { table: 'authorization_transactions', id }).take()
    },
    async complete(id, now) {
      const result = await db
        .updateTable('authorization_transactions')
        .set({ completed_at: now })
        .where('id', '=', id)
        .where('completed_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async countOpen(address, now, limit) {
      return countOpenRows(db, 'authorization_transactions', address, now, limit)
    },
  }
}
