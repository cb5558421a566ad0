import type { Kysely } from 'kysely'
import { revokeAccessTokensWhere } from './access-tokens.js'
import type { Database } from './database.js'

/**
 * Revocations that span tables, for the administrative commands. Each takes a transaction (or
 * the database) so the caller's change lands with it or not at all (ADR 0004).
 */

/** Which families and codes: a user's, optionally only those with one client. */
export interface GrantScope {
  userId: string
  clientId?: string | undefined
}

/**
 * Revokes the user's families (so their refresh tokens), then records as revoked every access
 * token issued from those families and the user's codes, and drops the codes not yet redeemed.
 * The number of families revoked.
 */
export async function revokeGrantsOf(db: Kysely<Database>, scope: GrantScope, now: number): Promise<number> {
  const families = db.selectFrom('refresh_token_families').select('id').where('user_id', '=', scope.userId)
  const codes = db.selectFrom('authorization_codes').select('id').where('user_id', '=', scope.userId)
  const byClient = scope.clientId
  // The families first, as refreshTokenRepository.revokeFamily does: the UPDATE takes their row
  // locks, so a rotation in progress finishes before (its access token is then copied below)
  // or waits and then finds the family revoked.
  let revoke = db.updateTable('refresh_token_families').set({ revoked_at: now }).where('user_id', '=', scope.userId).where('revoked_at', 'is', null)
  if (byClient !== undefined) revoke = revoke.where('client_id', '=', byClient)
  const revoked = await revoke.executeTakeFirst()
  await revokeAccessTokensWhere(
    db,
    (w) =>
      w.or([
        w('family_id', 'in', byClient === undefined ? families : families.where('client_id', '=', byClient)),
        w('code_id', 'in', byClient === undefined ? codes : codes.where('client_id', '=', byClient)),
      ]),
    now,
  )
  let unused = db.deleteFrom('authorization_codes').where('user_id', '=', scope.userId).where('used_at', 'is', null)
  if (byClient !== undefined) unused = unused.where('client_id', '=', byClient)
  await unused.execute()
  return Number(revoked.numUpdatedRows)
}

/** Ends the user's login sessions and the authorization requests they were signed in to. */
export async function endSessionsOf(db: Kysely<Database>, userId: string): Promise<number> {
  const ended = await db.deleteFrom('login_sessions').where('user_id', '=', userId).executeTakeFirst()
  await db.deleteFrom('authorization_transactions').where('user_id', '=', userId).execute()
  return Number(ended.numDeletedRows)
}

/** Everything a user holds: families, access tokens, codes, sessions (disable and remove). */
export async function endUserAccess(db: Kysely<Database>, userId: string, now: number): Promise<void> {
  await revokeGrantsOf(db, { userId }, now)
  await endSessionsOf(db, userId)
}

/** Records every access token the client was issued as revoked (before the client is deleted). */
export async function revokeAccessTokensOfClient(db: Kysely<Database>, clientId: string, now: number): Promise<void> {
  await revokeAccessTokensWhere(db, (w) => w('client_id', '=', clientId), now)
}
