import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbTime } from './convert.js'

/** A signed-in browser. The browser holds a random cookie; only its SHA-256 is stored. */
export interface LoginSession {
  idHash: string
  userId: string
  authTime: number
  createdAt: number
  expiresAt: number
}

export interface LoginSessionRepository {
  create(session: LoginSession): Promise<void>
  /** The session with this hash, if it has not expired at `now`. */
  findActive(idHash: string, now: number): Promise<LoginSession | undefined>
  delete(idHash: string): Promise<void>
}

export function loginSessionRepository(db: Kysely<Database>): LoginSessionRepository {
  return {
    async create(session) {
      await db
        .insertInto('login_sessions')
        .values({
          id_hash: session.idHash,
          user_id: session.userId,
          auth_time: session.authTime,
          created_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute()
    },
    async findActive(idHash, now) {
      const row = await db
        .selectFrom('login_sessions')
        .selectAll()
        .where('id_hash', '=', idHash)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      if (!row) return undefined
      return {
        idHash: row.id_hash,
        userId: row.user_id,
        authTime: fromDbTime(row.auth_time),
        createdAt: fromDbTime(row.created_at),
        expiresAt: fromDbTime(row.expires_at),
      }
    },
    async delete(idHash) {
      await db.deleteFrom('login_sessions').where('id_hash', '=', idHash).execute()
    },
  }
}
