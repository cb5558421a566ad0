import { sql } from 'kysely'
import t from 'tap'
import { lockActiveUser } from '../../src/storage/users.js'
import { dialects } from '../helpers/db.js'

// Every code, refresh and password-grant issue takes the user's row lock. Writing users.id (even
// to itself) makes SQLite check every table that references it, a scan that grew with every
// code and family stored: the lock must write a column no foreign key names.
for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: the user's row lock never writes the key, and tells disabled and removed users apart`, async (t) => {
    const store = await dialect.open(t)
    const db = store.db
    await sql`insert into users (id, username, password_hash, created_at) values ('u1', 'alice', 'x', 0), ('u2', 'bob', 'x', 0)`.execute(db)
    if (dialect.name === 'sqlite') {
      await sql`create trigger users_key_written before update of id on users begin select raise(abort, 'users.id written'); end`.execute(db)
    } else {
      await sql`create function users_key_written() returns trigger language plpgsql as $$ begin raise exception 'users.id written'; end $$`.execute(db)
      await sql`create trigger users_key_written before update of id on users for each row execute function users_key_written()`.execute(db)
    }
    t.equal(await db.transaction().execute((trx) => lockActiveUser(trx, 'u1')), true, 'an active user: locked, without writing users.id')
    await sql`update users set disabled_at = 5 where id = 'u2'`.execute(db)
    t.equal(await db.transaction().execute((trx) => lockActiveUser(trx, 'u2')), false, 'a disabled user')
    t.equal(await db.transaction().execute((trx) => lockActiveUser(trx, 'nobody')), false, 'a removed user')
    const rows = await sql<{ id: string; disabled_at: number | null }>`select id, disabled_at from users order by id`.execute(db)
    t.same(rows.rows.map((r) => [r.id, r.disabled_at === null ? null : Number(r.disabled_at)]), [['u1', null], ['u2', 5]], 'nothing changed')
  })
}

// The lock holds the user active until commit. SQLite: a read inside a transaction that holds the
// write lock from its start (nothing written); PostgreSQL: the row lock makes a disable wait.
for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: a disable waits for a transaction that took the user's lock`, async (t) => {
    const store = await dialect.open(t)
    const db = store.db
    await sql`insert into users (id, username, password_hash, created_at) values ('u1', 'alice', 'x', 0)`.execute(db)
    const order: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const lockTaken = new Promise<void>((resolve) => (locked = resolve))
    const issuing = db.transaction().execute(async (trx) => {
      t.equal(await lockActiveUser(trx, 'u1'), true)
      locked()
      await held
      order.push('issued')
    })
    await lockTaken
    // SQLite runs kysely's queries one at a time on its one connection: the disable queues behind
    // the open transaction. PostgreSQL takes it on another connection, where it waits on the row.
    const disabling = sql`update users set disabled_at = 5 where id = 'u1'`.execute(db).then(() => order.push('disabled'))
    await new Promise((resolve) => setTimeout(resolve, 50))
    release()
    await Promise.all([issuing, disabling])
    t.same(order, ['issued', 'disabled'], 'the disable landed after the issue committed')
    t.equal(await db.transaction().execute((trx) => lockActiveUser(trx, 'u1')), false, 'and is seen by the next')
  })
}
