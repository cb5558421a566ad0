import type { Kysely } from 'kysely'
import type { Database, TotpFactorRow } from './database.js'
import { fromDbTime } from './convert.js'
import { userHasFactor } from './factor-presence.js'
import { holdsWriteLock } from './connect.js'

/** A user's authenticator-app secret, as stored: sealed (src/keys/secret-box.ts). */
export interface TotpFactor {
  userId: string
  sealedSecret: string
  createdAt: number
  confirmedAt: number | null
  /** The last RFC 6238 time step a code was accepted for. */
  lastStep: number | null
}

/** A passkey as `user mfa list` shows it: never its key or credential id. */
export interface PasskeySummary {
  name: string
  createdAt: number
  lastUsedAt: number | null
}

/** What `resetAll` removed. */
export interface FactorsRemoved {
  totp: boolean
  passkeys: number
  recoveryCodes: number
}

/**
 * totp_factors and recovery_codes (and, for the counts, the listing and `user mfa reset`,
 * passkeys). Every claim is one conditional statement, so two instances (or two requests)
 * can never both accept one code (ADR 0004).
 */
export interface SecondFactorRepository {
  findTotp(userId: string): Promise<TotpFactor | undefined>
  /** Stores an unconfirmed secret, replacing one not yet confirmed; false when a confirmed one exists. */
  beginTotp(userId: string, sealedSecret: string, now: number): Promise<boolean>
  /**
   * Confirms the unconfirmed secret `sealedSecret` (still the one stored), records `step` as its
   * last accepted step and replaces the user's recovery codes, in one transaction. False when
   * that enrolment is no longer there.
   */
  confirmTotp(userId: string, sealedSecret: string, step: number, now: number, codeHashes: readonly string[]): Promise<boolean>
  /** Stores a confirmed secret directly with new recovery codes; false when a confirmed one exists. */
  addConfirmedTotp(userId: string, sealedSecret: string, now: number, codeHashes: readonly string[]): Promise<boolean>
  /**
   * Accepts time step `step` for the confirmed secret `sealedSecret`: true only if it is later
   * than the last step accepted, which it then becomes (one conditional UPDATE).
   */
  acceptStep(userId: string, sealedSecret: string, step: number): Promise<boolean>
  /** Marks an unused recovery code used; true once per code. */
  useRecoveryCode(userId: string, codeHash: string, now: number): Promise<boolean>
  recoveryCodesLeft(userId: string): Promise<number>
  /** Replaces the user's recovery codes (used or not) with these. */
  replaceRecoveryCodes(userId: string, codeHashes: readonly string[], now: number): Promise<void>
  /** Removes the app (confirmed or not), and the recovery codes unless a passkey remains; whether a confirmed app was removed. */
  removeTotp(userId: string): Promise<boolean>
  /** Removes the app, the recovery codes and the passkeys, in one transaction. */
  resetAll(userId: string): Promise<FactorsRemoved>
  hasFactor(userId: string): Promise<boolean>
  countPasskeys(userId: string): Promise<number>
  listPasskeys(userId: string): Promise<PasskeySummary[]>
}

function toFactor(row: TotpFactorRow): TotpFactor {
  return {
    userId: row.user_id,
    sealedSecret: row.secret,
    createdAt: fromDbTime(row.created_at),
    confirmedAt: row.confirmed_at === null ? null : fromDbTime(row.confirmed_at),
    lastStep: row.last_step === null ? null : fromDbTime(row.last_step),
  }
}

/**
 * Inside a transaction: the user's row lock, taken first (the order disable takes its locks in),
 * so changes of one user's recovery codes run one after the other. Without it two regenerations
 * on PostgreSQL (READ COMMITTED) each delete what they see and insert ten: the second DELETE does
 * not see the first's new rows, and twenty codes stay valid. SQLite holds the write lock already.
 */
async function lockUserRow(trx: Kysely<Database>, userId: string): Promise<void> {
  if (holdsWriteLock(trx)) return
  await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute()
}

async function insertCodes(db: Kysely<Database>, userId: string, codeHashes: readonly string[], now: number): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
  if (codeHashes.length === 0) return
  await db
    .insertInto('recovery_codes')
    .values(codeHashes.map((codeHash) => ({ code_hash: codeHash, user_id: userId, created_at: now, used_at: null })))
    .execute()
}

async function countPasskeys(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db.selectFrom('passkeys').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()
  return Number(row.n)
}

/** An upsert that stores a new secret unless the user's row is confirmed (then nothing changes). */
async function upsertUnlessConfirmed(db: Kysely<Database>, userId: string, sealedSecret: string, now: number, confirmedAt: number | null): Promise<boolean> {
  const result = await db
    .insertInto('totp_factors')
    .values({ user_id: userId, secret: sealedSecret, created_at: now, confirmed_at: confirmedAt, last_step: null })
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet({ secret: sealedSecret, created_at: now, confirmed_at: confirmedAt, last_step: null })
        .where('totp_factors.confirmed_at', 'is', null),
    )
    .executeTakeFirst()
  // PostgreSQL and SQLite both count the rows an upsert wrote (an update its WHERE skipped: none).
  return Number(result.numInsertedOrUpdatedRows) > 0
}

export function secondFactorRepository(db: Kysely<Database>): SecondFactorRepository {
  return {
    async findTotp(userId) {
      const row = await db.selectFrom('totp_factors').selectAll().where('user_id', '=', userId).executeTakeFirst()
      return row && toFactor(row)
    },
    async beginTotp(userId, sealedSecret, now) {
      return upsertUnlessConfirmed(db, userId, sealedSecret, now, null)
    },
    async confirmTotp(userId, sealedSecret, step, now, codeHashes) {
      return db.transaction().execute(async (trx) => {
        await lockUserRow(trx, userId)
        const confirmed = await trx
          .updateTable('totp_factors')
          .set({ confirmed_at: now, last_step: step })
          .where('user_id', '=', userId)
          .where('secret', '=', sealedSecret)
          .where('confirmed_at', 'is', null)
          .executeTakeFirst()
        if (Number(confirmed.numUpdatedRows) !== 1) return false
        await insertCodes(trx, userId, codeHashes, now)
        return true
      })
    },
    async addConfirmedTotp(userId, sealedSecret, now, codeHashes) {
      return db.transaction().execute(async (trx) => {
        await lockUserRow(trx, userId)
        if (!(await upsertUnlessConfirmed(trx, userId, sealedSecret, now, now))) return false
        await insertCodes(trx, userId, codeHashes, now)
        return true
      })
    },
    async acceptStep(userId, sealedSecret, step) {
      // RFC 6238 §5.2: a code is accepted once. Under concurrency the row lock orders the two
      // UPDATEs and the second one finds the condition false (PostgreSQL re-checks it after the
      // wait; SQLite runs writes one at a time).
      const result = await db
        .updateTable('totp_factors')
        .set({ last_step: step })
        .where('user_id', '=', userId)
        .where('secret', '=', sealedSecret)
        .where('confirmed_at', 'is not', null)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async useRecoveryCode(userId, codeHash, now) {
      const result = await db
        .updateTable('recovery_codes')
        .set({ used_at: now })
        .where('code_hash', '=', codeHash)
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async recoveryCodesLeft(userId) {
      const row = await db
        .selectFrom('recovery_codes')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow()
      return Number(row.n)
    },
    async replaceRecoveryCodes(userId, codeHashes, now) {
      await db.transaction().execute(async (trx) => {
        await lockUserRow(trx, userId)
        await insertCodes(trx, userId, codeHashes, now)
      })
    },
    async removeTotp(userId) {
      return db.transaction().execute(async (trx) => {
        const removed = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).returning('confirmed_at').executeTakeFirst()
        if ((await countPasskeys(trx, userId)) === 0) await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
        return removed !== undefined && removed.confirmed_at !== null
      })
    },
    async resetAll(userId) {
      return db.transaction().execute(async (trx) => {
        const totp = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst()
        await trx.deleteFrom('totp_factors').where('user_id', '=', userId).execute()
        const codes = await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst()
        const passkeys = await trx.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst()
        return { totp: Number(totp.numDeletedRows) > 0, passkeys: Number(passkeys.numDeletedRows), recoveryCodes: Number(codes.numDeletedRows) }
      })
    },
    hasFactor: (userId) => userHasFactor(db, userId),
    countPasskeys: (userId) => countPasskeys(db, userId),
    async listPasskeys(userId) {
      const rows = await db
        .selectFrom('passkeys')
        .select(['name', 'created_at', 'last_used_at'])
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('credential_id')
        .execute()
      return rows.map((row) => ({ name: row.name, createdAt: fromDbTime(row.created_at), lastUsedAt: row.last_used_at === null ? null : fromDbTime(row.last_used_at) }))
    },
  }
}
