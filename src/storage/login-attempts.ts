import type { Kysely, Transaction } from 'kysely'
import type { Database } from './database.js'
import { fromDbTime } from './convert.js'

/** Failed sign-ins counted against one key (a hash naming a username, or a username and an address). */
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

export interface ClaimedAttempt {
  failures: number
  /** Set when this attempt started a lockout. */
  lockedUntil: number | null
}

export interface LoginAttemptRepository {
  /**
   * Counts an attempt as failed against every key before its password is checked, and locks a
   * key when its count calls for it; if any key is locked at `now`, counts against none and
   * answers undefined. The keys are claimed in the order given, in one transaction, atomic on
   * both dialects: of many concurrent attempts only as many as the policy allows get through.
   * Give the kinds of keys in one fixed order: PostgreSQL could deadlock on rows claimed in turn.
   */
  claim(claims: readonly AttemptClaim[]): Promise<ClaimedAttempt[] | undefined>
  /** Forgets the key's failures (after a successful sign-in). */
  reset(keyHash: string): Promise<void>
  find(keyHash: string): Promise<LoginAttempts | undefined>
}

export function loginAttemptRepository(db: Kysely<Database>): LoginAttemptRepository {
  return {
    async claim(claims) {
      try {
        return await db.transaction().execute(async (trx) => {
          const claimed: ClaimedAttempt[] = []
          for (const claim of claims) {
            const one = await claimOne(trx, claim)
            // Rolls back the keys already counted.
            if (!one) throw new KeyLocked()
            claimed.push(one)
          }
          return claimed
        })
      } catch (err) {
        if (err instanceof KeyLocked) return undefined
        throw err
      }
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

/** Thrown inside the claim's transaction to roll it back; never leaves this module. */
class KeyLocked extends Error {}

async function claimOne(trx: Transaction<Database>, { keyHash, now, windowMs, lockoutMs }: AttemptClaim): Promise<ClaimedAttempt | undefined> {
  // The upsert is the claim: PostgreSQL makes a concurrent one wait on the row and then re-check
  // the lock; SQLite runs one write transaction at a time.
  const counted = await trx
    .insertInto('login_attempts')
    .values({ key_hash: keyHash, failures: 1, locked_until: null, expires_at: now + windowMs })
    .onConflict((oc) =>
      oc
        .column('key_hash')
        .doUpdateSet((eb) => ({
          failures: eb.case().when('login_attempts.expires_at', '<=', now).then(1).else(eb('login_attempts.failures', '+', 1)).end(),
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
  await trx.updateTable('login_attempts').set({ locked_until: lockedUntil, expires_at: lockedUntil + windowMs }).where('key_hash', '=', keyHash).execute()
  return { failures, lockedUntil }
}
