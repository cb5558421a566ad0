import type { Kysely } from 'kysely'
import { fromDbTime } from './convert.js'
import type { Database } from './database.js'

/** Failures counted against one key (a hash naming what is counted) in the current window. */
export interface FailureCount {
  failures: number
  /** When the count lapses: a window after its first failure. */
  expiresAt: number
}

export interface FailureCounterRepository {
  /**
   * Adds one failure to the key's count and answers the new count. A count lapses `windowMs`
   * after its first failure (a fixed window: a steady stream of failures cannot keep it alive
   * forever), and the next failure starts a new one. One upsert, atomic on both dialects, so
   * concurrent failures are each counted once.
   */
  increment(keyHash: string, now: number, windowMs: number): Promise<FailureCount>
  /** Takes one failure back from the key's live count (an attempt counted at its start that then succeeded). */
  decrement(keyHash: string, now: number): Promise<void>
  /** The key's live count at `now`; undefined when there is none or it has lapsed. */
  find(keyHash: string, now: number): Promise<FailureCount | undefined>
}

export function failureCounterRepository(db: Kysely<Database>): FailureCounterRepository {
  return {
    async increment(keyHash, now, windowMs) {
      const fresh = { failures: 1, expires_at: now + windowMs }
      const row = await db
        .insertInto('failure_counters')
        .values({ key_hash: keyHash, ...fresh })
        .onConflict((oc) =>
          oc.column('key_hash').doUpdateSet((eb) => {
            // Both right-hand sides read the row as it was before this update.
            const lapsed = eb('failure_counters.expires_at', '<=', now)
            return {
              failures: eb.case().when(lapsed).then(fresh.failures).else(eb('failure_counters.failures', '+', 1)).end(),
              expires_at: eb.case().when(lapsed).then(fresh.expires_at).else(eb.ref('failure_counters.expires_at')).end(),
            }
          }),
        )
        .returning(['failures', 'expires_at'])
        .executeTakeFirstOrThrow()
      return { failures: Number(row.failures), expiresAt: fromDbTime(row.expires_at) }
    },
    async decrement(keyHash, now) {
      await db
        .updateTable('failure_counters')
        .set((eb) => ({ failures: eb('failures', '-', 1) }))
        .where('key_hash', '=', keyHash)
        .where('expires_at', '>', now)
        .where('failures', '>', 0)
        .execute()
    },
    async find(keyHash, now) {
      const row = await db
        .selectFrom('failure_counters')
        .select(['failures', 'expires_at'])
        .where('key_hash', '=', keyHash)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return row && { failures: Number(row.failures), expiresAt: fromDbTime(row.expires_at) }
    },
  }
}
