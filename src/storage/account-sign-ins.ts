import type { Kysely } from 'kysely'
import { passkeyChallengeSlot } from './passkey-challenges.js'
import { fromDbAmr, fromDbTime, toDbAmr, type AuthMethod } from './convert.js'
import type { AccountSignInRow, Database } from './database.js'
import { countOpenRows, type OpenCount } from './open-count.js'

/**
 * The sign-in that leads to /account/security (a person managing their own second factors):
 * bound to one browser and its forms' CSRF token like an authorization transaction, with the
 * user pending until the second factor (if any) is done.
 */
export interface AccountSignIn {
  id: string
  /** SHA-256 of the browser cookie it is bound to. */
  browserHash: string
  /** SHA-256 of the CSRF token its forms carry. */
  csrfHash: string
  /** The client network that opened it (counted against the cap). */
  address: string
  uiLocale: string | null
  /** The password was right; the second factor is still to come. */
  pendingUserId: string | null
  pendingAmr: AuthMethod[] | null
  /** The WebAuthn challenge of a passkey ceremony in progress for it. */
  passkeyChallenge: string | null
  createdAt: number
  expiresAt: number
  completedAt: number | null
}

export interface AccountSignInRepository {
  create(signIn: AccountSignIn): Promise<void>
  findById(id: string): Promise<AccountSignIn | undefined>
  setPending(id: string, pending: { userId: string; amr: readonly AuthMethod[] } | null): Promise<void>
  /** Marks it finished; false when it already was (a second submit). */
  complete(id: string, now: number): Promise<boolean>
  /** Open (neither completed nor expired) sign-ins of an address, counted up to `limit`. */
  countOpen(address: string, now: number, limit: number): Promise<OpenCount>
  setPasskeyChallenge(id: string, challenge: string | null): Promise<void>
  /** The stored WebAuthn challenge, cleared in the same step (single use); null when none. */
  takePasskeyChallenge(id: string): Promise<string | null>
}

function toSignIn(row: AccountSignInRow): AccountSignIn {
  return {
    id: row.id,
    browserHash: row.browser_hash,
    csrfHash: row.csrf_hash,
    address: row.address,
    uiLocale: row.ui_locale,
    pendingUserId: row.pending_user_id,
    pendingAmr: row.pending_user_id === null ? null : fromDbAmr(row.pending_amr),
    passkeyChallenge: row.passkey_challenge,
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
    completedAt: row.completed_at === null ? null : fromDbTime(row.completed_at),
  }
}

export function accountSignInRepository(db: Kysely<Database>): AccountSignInRepository {
  return {
    async create(signIn) {
      await db
        .insertInto('account_sign_ins')
        .values({
          id: signIn.id,
          browser_hash: signIn.browserHash,
          csrf_hash: signIn.csrfHash,
          address: signIn.address,
          ui_locale: signIn.uiLocale,
          pending_user_id: signIn.pendingUserId,
          pending_amr: signIn.pendingAmr === null ? null : toDbAmr(signIn.pendingAmr),
          passkey_challenge: signIn.passkeyChallenge,
          created_at: signIn.createdAt,
          expires_at: signIn.expiresAt,
          completed_at: signIn.completedAt,
        })
        .execute()
    },
    async findById(id) {
      const row = await db.selectFrom('account_sign_ins').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toSignIn(row)
    },
    async setPending(id, pending) {
      await db
        .updateTable('account_sign_ins')
        .set({ pending_user_id: pending?.userId ?? null, pending_amr: pending ? toDbAmr(pending.amr) : null })
        .where('id', '=', id)
        .execute()
    },
    async complete(id, now) {
      const result = await db.updateTable('account_sign_ins').set({ completed_at: now }).where('id', '=', id).where('completed_at', 'is', null).executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    countOpen(address, now, limit) {
      return countOpenRows(db, 'account_sign_ins', address, now, limit)
    },
    setPasskeyChallenge(id, challenge) {
      return passkeyChallengeSlot(db, { table: 'account_sign_ins', id }).set(challenge)
    },
    takePasskeyChallenge(id) {
      return passkeyChallengeSlot(db, { table: 'account_sign_ins', id }).take()
    },
  }
}
