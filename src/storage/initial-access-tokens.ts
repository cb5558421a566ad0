import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/** RFC 7591 §3: the initial access tokens REGISTRATION=token asks for, kept as SHA-256 hashes. */
export interface InitialAccessTokenRepository {
  create(token: { hash: string; createdAt: number; expiresAt: number }): Promise<void>
  /**
   * Spends the token with this hash: true when it was unused and unexpired at `now`, and it is
   * now used. One conditional UPDATE, so two registrations can never spend the same token.
   */
  spend(hash: string, now: number): Promise<boolean>
}

export function initialAccessTokenRepository(db: Kysely<Database>): InitialAccessTokenRepository {
  return {
    async create(token) {
      await db
        .insertInto('initial_access_tokens')
        .values({ token_hash: token.hash, created_at: token.createdAt, expires_at: token.expiresAt, used_at: null })
        .execute()
    },
    async spend(hash, now) {
      const result = await db
        .updateTable('initial_access_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
  }
}
