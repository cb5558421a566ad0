import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbTime } from './convert.js'

/** Failed sign-ins counted against one key (a hash of the normalised username). */
export interface LoginAttempts {
  keyHash: string
  /** Attempts counted as failed (an attempt counts from its start until it succeeds). */
  failures: number
  lockedUntil: number | null
  /** When the count lapses: `windowMs` after the last attempt, or after the lockout ends. */
  expiresAt: number
}

export interface AttemptClaim {
  keyHash: string
  now: number
  /** How long a count lasts after the last attempt, or after a lockout ends. */
  windowMs: number
  /** How long to lock the key once this many attempts (this one included) have failed; 0 for no lock. */
  lockoutMs(failures: number): number
}

export interface LoginAttemptRepository {
  /**
   * Counts an attempt as failed before its password is checked, unless the key is locked at
   * `now`, and locks the key when the count calls for it. Atomic on both dialects, so of many
   * concurrent attempts only as many as the policy allows get through. Undefined when locked.
   */
  claim(claim: AttemptClaim): Promise<{ failures: number; lockedUntil: number | null } | undefined>
  /** Forgets the key's failures (after a successful sign-in). */
  reset(keyHash: string): Promise<void>
  find(keyHash: string): Promise<LoginAttempts | undefined>
}

export function loginAttemptRepository(db: Kysely<Database>): LoginAttemptRepository {
  return {
    async claim({ keyHash, now, windowMs, lockoutMs }) {
      return db.transaction().execute(async (trx) => {
        // The upsert is the claim: PostgreSQL makes a concurrent one wait on the row and then
        // re-check the lock; SQLite runs one write transaction at a time.
        const counted = await trx
          .insertInto('login_attempts')
          .values({ key_hash: keyHash, failures: 1, locked_until: null, expires_at: now + windowMs })
          .onConflict((oc) =>
            oc
              .column('key_hash')
              .doUpdateSet((eb) => ({
                failures: eb
                  .case()
                  .when('login_attempts.expires_at', '<=', now)
                  .then(1)
                  .else(eb('login_attempts.failures', '+', 1))
                  .end(),
                locked_until: null,
                expires_at: now + windowMs,
              }))
              .where((eb) => eb.or([eb('login_attempts.locked_until', 'is', null), eb('login_attempts.locked_until', '<=', now)])),
          )
          .returning('failures')
          .executeTakeFirst()
        if (!counted) return undefined
        const failures = Number(counted.failures)
        const lockMs = lockoutMs(failures)
        if (lockMs <= 0) return { failures, lockedUntil: null }
        const lockedUntil = now + lockMs
        await trx
          .updateTable('login_attempts')
          .set({ locked_until: lockedUntil, expires_at: lockedUntil + windowMs })
          .where('key_hash', '=', keyHash)
          .execute()
        return { failures, lockedUntil }
      })
    },
    async reset(keyHash) {
      await db.deleteFrom('login_attempts').where('key_hash', '=', keyHash).execute()
    },
    async find(keyHash) {
      const row = await db.selectFrom('login_attempts').selectAll().where('key_hash', '=', keyHash).executeTakeFirst()
      if (!row) return undefined
      return {
        keyHash: row.key_hash,
        failures: Number(row.failures),
        lockedUntil: row.locked_until === null ? null : fromDbTime(row.locked_until),
        expiresAt: fromDbTime(row.expires_at),
      }
    },
  }
}
