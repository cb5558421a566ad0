import type { Kysely } from 'kysely'
import { fromDbAmr, toDbAmr, type AuthMethod } from './convert.js'
import type { Database } from './database.js'
import { fromDbTime } from './convert.js'
import type { LoginSessionRow } from './database.js'
import type { PageQuery } from './paging.js'
import { endSessionsOf } from './revocation.js'
import { lockActiveUser } from './users.js'

function toSession(row: LoginSessionRow): LoginSession {
  return {
    idHash: row.id_hash,
    userId: row.user_id,
    authTime: fromDbTime(row.auth_time),
    amr: fromDbAmr(row.amr),
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
  }
}

/** A signed-in browser. The browser holds a random cookie; only its SHA-256 is stored. */
export interface LoginSession {
  idHash: string
  userId: string
  authTime: number
  /** How the user signed in (RFC 8176); a row from before second factors reads as ["pwd"]. */
  amr: AuthMethod[]
  createdAt: number
  expiresAt: number
}

export interface LoginSessionRepository {
  /**
   * Stores the session, in a transaction under the user's row lock (lockActiveUser). False, with
   * nothing stored, when the user was disabled or removed since the password was checked.
   */
  create(session: LoginSession): Promise<boolean>
  /** The session with this hash, if it has not expired at `now` and its user is not disabled. */
  findActive(idHash: string, now: number): Promise<LoginSession | undefined>
  delete(idHash: string): Promise<void>
  /** The user's unexpired sessions ordered by id hash (the primary key), after `after`. */
  listForUser(userId: string, now: number, query: PageQuery): Promise<LoginSession[]>
  /** Ends every session of the user and the authorization requests they were signed in to. */
  endAllFor(userId: string): Promise<number>
  /** Stores (or, with null, clears) the WebAuthn registration challenge of a session. */
  setPasskeyChallenge(idHash: string, challenge: string | null): Promise<void>
  /**
   * The session's WebAuthn challenge, cleared in the same step: of concurrent calls, one gets
   * it (single use); null when none is stored.
   */
  takePasskeyChallenge(idHash: string): Promise<string | null>
}

export function loginSessionRepository(db: Kysely<Database>): LoginSessionRepository {
  return {
    async create(session) {
      return db.transaction().execute(async (trx) => {
        if (!(await lockActiveUser(trx, session.userId))) return false
        await trx
          .insertInto('login_sessions')
          .values({
            id_hash: session.idHash,
            user_id: session.userId,
            auth_time: session.authTime,
            amr: toDbAmr(session.amr),
            created_at: session.createdAt,
            expires_at: session.expiresAt,
          })
          .execute()
        return true
      })
    },
    async findActive(idHash, now) {
      // A disabled user's session does not count, whatever may be left of it.
      const row = await db
        .selectFrom('login_sessions')
        .innerJoin('users', 'users.id', 'login_sessions.user_id')
        .selectAll('login_sessions')
        .where('login_sessions.id_hash', '=', idHash)
        .where('login_sessions.expires_at', '>', now)
        .where('users.disabled_at', 'is', null)
        .executeTakeFirst()
      return row && toSession(row)
    },
    async listForUser(userId, now, { after, limit }) {
      let query = db.selectFrom('login_sessions').selectAll().where('user_id', '=', userId).where('expires_at', '>', now).orderBy('id_hash').limit(limit)
      if (after !== undefined) query = query.where('id_hash', '>', after)
      return (await query.execute()).map(toSession)
    },
    async endAllFor(userId) {
      return db.transaction().execute((trx) => endSessionsOf(trx, userId))
    },
    async delete(idHash) {
      await db.deleteFrom('login_sessions').where('id_hash', '=', idHash).execute()
    },
    async setPasskeyChallenge(idHash, challenge) {
      await db.updateTable('login_sessions').set({ passkey_challenge: challenge }).where('id_hash', '=', idHash).execute()
    },
    async takePasskeyChallenge(idHash) {
      // Compare-and-clear: only the call whose UPDATE still sees the value read gets it.
      const row = await db.selectFrom('login_sessions').select('passkey_challenge').where('id_hash', '=', idHash).executeTakeFirst()
      const challenge = row?.passkey_challenge ?? null
      if (challenge === null) return null
      const cleared = await db
        .updateTable('login_sessions')
        .set({ passkey_challenge: null })
        .where('id_hash', '=', idHash)
        .where('passkey_challenge', '=', challenge)
        .executeTakeFirst()
      return Number(cleared.numUpdatedRows) === 1 ? challenge : null
    },
  }
}
