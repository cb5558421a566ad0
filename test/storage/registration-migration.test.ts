import type { Kysely } from 'kysely'
import t from 'tap'
import * as registration from '../../src/storage/migrations/2026-12-01-01-registration.js'
import { eachDialect, underMigrationLock } from '../helpers/db.js'

// The registration migration undoes cleanly and applies again, on both dialects (SQLite drops
// the index before its columns).

eachDialect(t, (t, dialect) => {
  t.test('down removes the columns and the table; up brings them back', async (t) => {
    const store = await dialect.open(t)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const db = store.db as unknown as Kysely<any>
    // Queries, not introspection: on PostgreSQL other test files' schemas hold tables of the same names.
    const has = (query: { execute(): Promise<unknown> }) => query.execute().then(() => true, () => false)
    const NEW_COLUMNS = ['self_registered', 'registration_token_hash', 'token_endpoint_auth_method', 'last_used_at']
    const columns = async () => (await Promise.all(NEW_COLUMNS.map((column) => has(db.selectFrom('clients').select(column))))).filter(Boolean).length
    const table = () => has(db.selectFrom('initial_access_tokens').select('token_hash'))
    t.equal(await columns(), 4)
    t.ok(await table())
    await underMigrationLock(store, (db) => registration.down(db))
    t.equal(await columns(), 0, 'the columns are gone')
    t.notOk(await table(), 'the table is gone')
    await underMigrationLock(store, (db) => registration.up(db))
    t.equal(await columns(), 4)
    t.ok(await table())
  })
})
