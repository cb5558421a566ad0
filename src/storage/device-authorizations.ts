import type { Kysely } from 'kysely'
import { fromDbAmr, toDbAmr, type AuthMethod } from './convert.js'
import { insertCode, type AuthorizationCode } from './authorization-codes.js'
import { fromDbList, fromDbTime, toDbList } from './convert.js'
import type { Database, DeviceAuthorizationRow } from './database.js'
import { countOpenRows, type OpenCount } from './open-count.js'

/** Where a device authorization stands (RFC 8628 §3.5): the user has not decided, allowed, or denied. */
export type DeviceAuthorizationStatus = 'pending' | 'approved' | 'denied'

/** One /device_authorization request (RFC 8628 §3.1), from its start to its redemption at /token. */
export interface DeviceAuthorization {
  id: string
  /** SHA-256 (hex) of the device code; the code itself is never stored. */
  deviceCodeHash: string
  /** SHA-256 (hex) of the normalized user code (see authorization/device.ts). */
  userCodeHash: string
  clientId: string
  scopes: string[]
  /** The token's audience (RFC 8707), checked as at /authorize. */
  resource: string
  status: DeviceAuthorizationStatus
  /** Who approved or denied, and when they signed in. */
  userId: string | null
  authTime: number | null
  /** How the approving user signed in (RFC 8176); null until decided; older rows read as ["pwd"]. */
  amr: AuthMethod[] | null
  /** The authorization code the approval wrote (never handed out); null until approved, or once revoked. */
  codeId: string | null
  /** RFC 8628 §3.5: the polling interval, 5 seconds more after each slow_down. */
  intervalSeconds: number
  lastPolledAt: number | null
  /** The client network (clientNetwork) that asked, for the cap on open ones. */
  address: string
  createdAt: number
  expiresAt: number
  /** When /token issued tokens for it: a device code works once. */
  redeemedAt: number | null
}

export interface DeviceAuthorizationRepository {
  /** Stores it; false, with nothing stored, when its user code or device code is taken already. */
  create(device: DeviceAuthorization): Promise<boolean>
  findByDeviceCodeHash(hash: string): Promise<DeviceAuthorization | undefined>
  findById(id: string): Promise<DeviceAuthorization | undefined>
  /** The pending, unexpired one with this user code, if any. */
  findPendingByUserCodeHash(hash: string, now: number): Promise<DeviceAuthorization | undefined>
  /** Counts, from the (address, expires_at) index, the unexpired ones of an address. */
  countOpen(address: string, now: number, limit: number): Promise<OpenCount>
  /**
   * Records a poll at `now`, only if no other poll was recorded since the one read
   * (`previousPolledAt`): false when a concurrent poll came first.
   */
  recordPoll(id: string, previousPolledAt: number | null, now: number): Promise<boolean>
  /** RFC 8628 §3.5 slow_down: the interval grows by `stepSeconds` and the poll is recorded. */
  slowDown(id: string, stepSeconds: number, now: number): Promise<void>
  /**
   * The user allowed: stores the code (the approval's grant) and marks it approved, in one
   * transaction, only while it is pending and unexpired; false, with nothing written, otherwise.
   */
  approve(input: { id: string; code: AuthorizationCode; now: number }): Promise<boolean>
  /** The user denied: only while pending and unexpired; false otherwise. */
  deny(input: { id: string; userId: string; authTime: number; amr: readonly AuthMethod[]; now: number }): Promise<boolean>
  /** Marks it redeemed (after its code was claimed, which is what makes redemption single). */
  markRedeemed(id: string, now: number): Promise<void>
}

function toDevice(row: DeviceAuthorizationRow): DeviceAuthorization {
  return {
    id: row.id,
    deviceCodeHash: row.device_code_hash,
    userCodeHash: row.user_code_hash,
    clientId: row.client_id,
    scopes: fromDbList(row.scopes),
    resource: row.resource,
    status: row.status as DeviceAuthorizationStatus,
    userId: row.user_id,
    authTime: row.auth_time === null ? null : fromDbTime(row.auth_time),
    amr: row.user_id === null ? null : fromDbAmr(row.amr),
    codeId: row.code_id,
    intervalSeconds: Number(row.interval_seconds),
    lastPolledAt: row.last_polled_at === null ? null : fromDbTime(row.last_polled_at),
    address: row.address,
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
    redeemedAt: row.redeemed_at === null ? null : fromDbTime(row.redeemed_at),
  }
}

export function deviceAuthorizationRepository(db: Kysely<Database>): DeviceAuthorizationRepository {
  return {
    async create(device) {
      // A user code equal to a stored one (live, or expired and not yet purged) is refused by
      // the unique index; ON CONFLICT DO NOTHING makes that a "try another" on both dialects.
      const inserted = await db
        .insertInto('device_authorizations')
        .values({
          id: device.id,
          device_code_hash: device.deviceCodeHash,
          user_code_hash: device.userCodeHash,
          client_id: device.clientId,
          scopes: toDbList(device.scopes),
          resource: device.resource,
          status: device.status,
          user_id: device.userId,
          auth_time: device.authTime,
          amr: device.amr === null ? null : toDbAmr(device.amr),
          code_id: device.codeId,
          interval_seconds: device.intervalSeconds,
          last_polled_at: device.lastPolledAt,
          address: device.address,
          created_at: device.createdAt,
          expires_at: device.expiresAt,
          redeemed_at: device.redeemedAt,
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst()
      return inserted !== undefined
    },
    async findByDeviceCodeHash(hash) {
      const row = await db.selectFrom('device_authorizations').selectAll().where('device_code_hash', '=', hash).executeTakeFirst()
      return row && toDevice(row)
    },
    async findById(id) {
      const row = await db.selectFrom('device_authorizations').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toDevice(row)
    },
    async findPendingByUserCodeHash(hash, now) {
      const row = await db
        .selectFrom('device_authorizations')
        .selectAll()
        .where('user_code_hash', '=', hash)
        .where('status', '=', 'pending')
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return row && toDevice(row)
    },
    async countOpen(address, now, limit) {
      return countOpenRows(db, 'device_authorizations', address, now, limit)
    },
    async recordPoll(id, previousPolledAt, now) {
      const result = await db
        .updateTable('device_authorizations')
        .set({ last_polled_at: now })
        .where('id', '=', id)
        .where((eb) => (previousPolledAt === null ? eb('last_polled_at', 'is', null) : eb('last_polled_at', '=', previousPolledAt)))
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async slowDown(id, stepSeconds, now) {
      await db
        .updateTable('device_authorizations')
        .set((eb) => ({ interval_seconds: eb('interval_seconds', '+', stepSeconds), last_polled_at: now }))
        .where('id', '=', id)
        .execute()
    },
    async approve({ id, code, now }) {
      return db.transaction().execute(async (trx) => {
        // The claim first: a second decision, or one after expiry, changes no row and writes nothing.
        const claimed = await trx
          .updateTable('device_authorizations')
          .set({ status: 'approved', user_id: code.userId, auth_time: code.authTime, amr: toDbAmr(code.amr) })
          .where('id', '=', id)
          .where('status', '=', 'pending')
          .where('expires_at', '>', now)
          .executeTakeFirst()
        if (Number(claimed.numUpdatedRows) !== 1) return false
        await insertCode(trx, code)
        await trx.updateTable('device_authorizations').set({ code_id: code.id }).where('id', '=', id).execute()
        return true
      })
    },
    async deny({ id, userId, authTime, amr, now }) {
      const result = await db
        .updateTable('device_authorizations')
        .set({ status: 'denied', user_id: userId, auth_time: authTime, amr: toDbAmr(amr) })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async markRedeemed(id, now) {
      await db.updateTable('device_authorizations').set({ redeemed_at: now }).where('id', '=', id).where('redeemed_at', 'is', null).execute()
    },
  }
}
