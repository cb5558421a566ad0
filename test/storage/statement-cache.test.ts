import SqliteDatabase from 'better-sqlite3'
import { sql } from 'kysely'
import t from 'tap'
import { connect, withStatementCache } from '../../src/storage/connect.js'

t.test('the same SQL text reuses one prepared statement; parameters are bound per run', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  const cache = withStatementCache(sqlite)
  const first = cache.prepare('select ? as v')
  t.equal(cache.prepare('select ? as v'), first)
  t.not(cache.prepare('select ? as w'), first)
  t.same(first.all([1]), [{ v: 1 }])
  t.same(cache.prepare('select ? as v').all([2]), [{ v: 2 }])
})

t.test('a statement being iterated is busy: the same text then gets a fresh statement', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec('create table n (v integer); insert into n values (1), (2), (3)')
  const cache = withStatementCache(sqlite)
  const text = 'select v from n order by v'
  const streaming = cache.prepare(text) as unknown as SqliteDatabase.Statement
  const rows = streaming.iterate()
  t.same(rows.next().value, { v: 1 })
  const other = cache.prepare(text)
  t.not(other, streaming, 'the busy statement is not handed out again')
  t.same(other.all([]), [{ v: 1 }, { v: 2 }, { v: 3 }])
  t.same([...rows], [{ v: 2 }, { v: 3 }], 'the iteration goes on undisturbed')
  t.equal(cache.prepare(text), streaming, 'once done, the cached statement is used again')
})

t.test('the cache is bounded: past its size the oldest statement is dropped', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  const cache = withStatementCache(sqlite, 2)
  const a = cache.prepare('select 1')
  const b = cache.prepare('select 2')
  t.equal(cache.prepare('select 1'), a)
  cache.prepare('select 3')
  t.not(cache.prepare('select 1'), a, 'the oldest was dropped and is prepared anew')
  t.equal(cache.prepare('select 3'), cache.prepare('select 3'))
  t.not(b, undefined)
})

t.test('through kysely: queries, writes and a schema change after a statement was cached', async (t) => {
  const store = connect({ kind: 'sqlite', path: ':memory:' })
  t.teardown(() => store.close())
  await sql`create table t (a integer)`.execute(store.db)
  await sql`insert into t (a) values (${1})`.execute(store.db)
  const read = () => sql<{ a: number; b?: number }>`select * from t`.execute(store.db)
  t.same((await read()).rows, [{ a: 1 }])
  await sql`alter table t add column b integer default 7`.execute(store.db)
  t.same((await read()).rows, [{ a: 1, b: 7 }], 'a cached statement is re-prepared by SQLite after a schema change')
})

t.test('a kysely transaction on SQLite holds the write lock from its start (begin immediate)', async (t) => {
  const dir = t.testdir()
  const path = `${dir}/db.sqlite`
  const store = connect({ kind: 'sqlite', path })
  t.teardown(() => store.close())
  await sql`create table t (a integer)`.execute(store.db)
  const other = new SqliteDatabase(path, { timeout: 0 })
  t.teardown(() => other.close())
  await store.db.transaction().execute(async (trx) => {
    await sql`select count(*) from t`.execute(trx)
    t.throws(() => other.prepare('insert into t (a) values (1)').run(), { code: 'SQLITE_BUSY' }, 'another process cannot write while it is open, though it only read')
  })
  other.prepare('insert into t (a) values (1)').run()
  t.same((await sql`select a from t`.execute(store.db)).rows, [{ a: 1 }], 'and can once it ended')
})
