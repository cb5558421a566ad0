import type { Kysely } from 'kysely'
import t from 'tap'
import * as registration from '../../src/storage/migrations/2026-12-01-01-registration.js'
import { eachDialect } from '../helpers/db.js'

// The registration migration undoes cleanly and applies again, on both dialects (SQLite drops
// the index before its columns).

eachDialect(t, (t, dialect) => {
  t.test('down removes the columns and the table; up brings them back', async (t) => {
    const store = await dialect.open(t)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const db = store.db as unknown as Kysely<any>
    const columns = async () => (await db.introspection.getTables()).find((table) => table.name === 'clients')?.columns.map((c) => c.name) ?? []
    const tables = async () => (await db.introspection.getTables()).map((table) => table.name)
    t.ok((await columns()).includes('self_registered'))
    await registration.down(db)
    t.notOk((await columns()).some((name) => ['self_registered', 'registration_token_hash', 'token_endpoint_auth_method', 'last_used_at'].includes(name)))
    t.notOk((await tables()).includes('initial_access_tokens'))
    await registration.up(db)
    t.ok((await columns()).includes('last_used_at'))
    t.ok((await tables()).includes('initial_access_tokens'))
  })
})
