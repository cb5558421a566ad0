import { sql, type Kysely } from 'kysely'
import { holdsWriteLock } from './connect.js'
import type { Database } from './database.js'

/** A row that lives until a time column is set: a user until disabled_at, a family until revoked_at. */
export interface LiveRow {
  table: 'users' | 'refresh_token_families'
  id: string
  endedBy: 'disabled_at' | 'revoked_at'
}

/**
 * Inside a transaction: whether the row exists and its `endedBy` column is still NULL, held true
 * until the transaction ends, so a concurrent disable or revocation waits for it.
 * - PostgreSQL: a no-op UPDATE takes the row lock. It sets the column to the NULL it is, never
 *   the key to itself (a key write makes SQLite check every table that references it).
 * - SQLite: the transaction holds the database's write lock from its start (holdsWriteLock), so
 *   a read is enough; the UPDATE would write the row's page to the WAL on every issue for nothing.
 */
export async function lockLiveRow(trx: Kysely<Database>, row: LiveRow): Promise<boolean> {
  const table = sql.table(row.table)
  const endedBy = sql.ref(row.endedBy)
  if (holdsWriteLock(trx)) {
    const found = await sql<{ id: string }>`select id from ${table} where id = ${row.id} and ${endedBy} is null`.execute(trx)
    return found.rows.length === 1
  }
  const locked = await sql`update ${table} set ${endedBy} = null where id = ${row.id} and ${endedBy} is null`.execute(trx)
  return Number(locked.numAffectedRows) === 1
}
