import type { Kysely } from 'kysely'
import { fromDbBool, fromDbList, fromDbTime, toDbBool, toDbList } from './convert.js'
import type { Database, PasskeyRow } from './database.js'

/** A WebAuthn credential a user registered (a passkey), found by its credential id at sign-in. */
export interface Passkey {
  /** The credential id, base64url, as the browser reports it. */
  credentialId: string
  userId: string
  /** The COSE public key, base64url. */
  publicKey: string
  /** The authenticator's signature counter (WebAuthn §6.1.1); 0 for authenticators without one. */
  counter: number
  /** Authenticator transports (usb, internal, hybrid…), hints for the browser. */
  transports: string[]
  /** The user's name for it. */
  name: string
  /** Whether the authenticator said the credential is backed up (synced). */
  backedUp: boolean
  createdAt: number
  lastUsedAt: number | null
}

/** The longest name a user may give a passkey (the column's width). */
export const PASSKEY_NAME_MAX = 64

function toPasskey(row: PasskeyRow): Passkey {
  return {
    credentialId: row.credential_id,
    userId: row.user_id,
    publicKey: row.public_key,
    counter: fromDbTime(row.counter),
    transports: fromDbList(row.transports),
    name: row.name,
    backedUp: fromDbBool(row.backed_up),
    createdAt: fromDbTime(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : fromDbTime(row.last_used_at),
  }
}

export interface PasskeyRepository {
  /** Stores a new passkey; false when that credential id is already registered (to anyone). */
  add(passkey: Passkey): Promise<boolean>
  /** The user's passkeys, oldest first. */
  listForUser(userId: string): Promise<Passkey[]>
  findByCredentialId(credentialId: string): Promise<Passkey | undefined>
  /**
   * Records a use: the new counter and last_used_at, only if the counter moved forward (or both
   * the stored and the new one are 0: an authenticator without a counter). Atomic: of two
   * assertions with the same counter, one wins. False: the counter went back (a cloned
   * authenticator, or a replay), nothing changed.
   */
  recordUse(credentialId: string, newCounter: number, now: number): Promise<boolean>
  /** Renames one of the user's passkeys; false if the user has no such passkey. */
  rename(userId: string, credentialId: string, name: string): Promise<boolean>
  /**
   * Removes one of the user's passkeys; false if the user has no such passkey. The last second
   * factor gone (no passkey, no confirmed authenticator app), the recovery codes go with it.
   */
  remove(userId: string, credentialId: string): Promise<boolean>
}

export function passkeyRepository(db: Kysely<Database>): PasskeyRepository {
  return {
    async add(passkey) {
      // A conflict on the primary key inserts nothing on both dialects.
      const result = await db
        .insertInto('passkeys')
        .values({
          credential_id: passkey.credentialId,
          user_id: passkey.userId,
          public_key: passkey.publicKey,
          counter: passkey.counter,
          transports: toDbList(passkey.transports),
          name: passkey.name,
          backed_up: toDbBool(passkey.backedUp),
          created_at: passkey.createdAt,
          last_used_at: passkey.lastUsedAt,
        })
        .onConflict((oc) => oc.column('credential_id').doNothing())
        .executeTakeFirst()
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
    },
    async listForUser(userId) {
      const rows = await db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('credential_id').execute()
      return rows.map(toPasskey)
    },
    async findByCredentialId(credentialId) {
      const row = await db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst()
      return row && toPasskey(row)
    },
    async recordUse(credentialId, newCounter, now) {
      const result = await db
        .updateTable('passkeys')
        .set({ counter: newCounter, last_used_at: now })
        .where('credential_id', '=', credentialId)
        // WebAuthn §6.1.1: a counter that does not grow is a sign of a cloned authenticator.
        .where('counter', newCounter === 0 ? '=' : '<', newCounter)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async rename(userId, credentialId, name) {
      const result = await db.updateTable('passkeys').set({ name }).where('user_id', '=', userId).where('credential_id', '=', credentialId).executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async remove(userId, credentialId) {
      return db.transaction().execute(async (trx) => {
        const result = await trx.deleteFrom('passkeys').where('user_id', '=', userId).where('credential_id', '=', credentialId).executeTakeFirst()
        if (Number(result.numDeletedRows) !== 1) return false
        const passkey = await trx.selectFrom('passkeys').select('user_id').where('user_id', '=', userId).limit(1).executeTakeFirst()
        const totp = await trx.selectFrom('totp_factors').select('user_id').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst()
        if (!passkey && !totp) await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
        return true
      })
    },
  }
}
