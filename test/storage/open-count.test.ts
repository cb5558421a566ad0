import { CompiledQuery, sql } from 'kysely'
import t from 'tap'
import type { Store } from '../../src/storage/connect.js'
import * as openRowIndexes from '../../src/storage/migrations/2026-12-02-02-open-row-indexes.js'
import { openRowsQuery, type OpenCountTable } from '../../src/storage/open-count.js'
import { dialects, underMigrationLock, type DialectCase } from '../helpers/db.js'

// The count of an address's open rows reads an index of the open rows only: the finished rows an
// address leaves behind until they expire are never read, however many there are. Shown by the
// plan each database makes for the very query the repositories run.

const NOW = 1_795_000_000_000
const INDEX: Record<OpenCountTable, string> = {
  authorization_transactions: 'authorization_transactions_open_idx',
  account_sign_ins: 'account_sign_ins_open_idx',
  device_authorizations: 'device_authorizations_address_idx',
}
const TABLES = Object.keys(INDEX) as OpenCountTable[]

/** The plan the database makes for the count over `table`, as text. */
async function planOf(store: Store, dialect: DialectCase, table: OpenCountTable): Promise<string> {
  const query = openRowsQuery(store.db, table, '192.0.2.1', NOW, 50).compile()
  return store.db.transaction().execute(async (trx) => {
    // PostgreSQL would scan an empty table whole; without that choice it names the index it would use.
    if (dialect.name === 'postgres') await sql`set local enable_seqscan = off`.execute(trx)
    const explain = dialect.name === 'postgres' ? 'explain ' : 'explain query plan '
    const { rows } = await trx.executeQuery(CompiledQuery.raw(explain + query.sql, [...query.parameters]))
    return rows.map((row) => Object.values(row as Record<string, unknown>).join(' ')).join('\n')
  })
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: the open rows of an address are counted from their own index`, async (t) => {
    const store = await dialect.open(t)
    for (const table of TABLES) {
      const plan = await planOf(store, dialect, table)
      t.match(plan, INDEX[table], `${table}: ${INDEX[table]}`)
      if (table !== 'device_authorizations') t.notMatch(plan, /_address_idx/, `${table}: no index that holds finished rows`)
    }
    // Each holds exactly the unfinished rows.
    for (const index of ['authorization_transactions_open_idx', 'account_sign_ins_open_idx']) {
      const definitions = await sql<{ sql: string }>`${sql.raw(
        dialect.name === 'postgres'
          ? `select indexdef as sql from pg_indexes where indexname = '${index}' and schemaname = current_schema()`
          : `select sql from sqlite_master where name = '${index}'`,
      )}`.execute(store.db)
      t.match(definitions.rows[0]?.sql ?? '', /where \(?"?completed_at"? is null\)?/i, `${index} is partial: where completed_at is null`)
    }
  })

  t.test(`${dialect.name}: the migration's down brings back the indexes of every row, and up replaces them again`, async (t) => {
    const store = await dialect.open(t)
    await underMigrationLock(store, (db) => openRowIndexes.down(db))
    t.match(await planOf(store, dialect, 'authorization_transactions'), 'authorization_transactions_address_idx')
    t.match(await planOf(store, dialect, 'account_sign_ins'), 'account_sign_ins_address_idx')
    await underMigrationLock(store, (db) => openRowIndexes.up(db))
    t.match(await planOf(store, dialect, 'authorization_transactions'), 'authorization_transactions_open_idx')
    t.match(await planOf(store, dialect, 'account_sign_ins'), 'account_sign_ins_open_idx')
  })
}
