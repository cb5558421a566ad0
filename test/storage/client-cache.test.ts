import SqliteDatabase from 'better-sqlite3'
import { sql } from 'kysely'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { sqliteClientCache } from '../../src/storage/client-cache.js'
import type { Client } from '../../src/storage/clients.js'
import { connect, type Store } from '../../src/storage/connect.js'
import { migrate } from '../../src/storage/migrate.js'
import { repositories, inTransaction } from '../../src/storage/repositories.js'

function client(id: string, secretHash = 'a'.repeat(64)): Client {
  return {
    id,
    name: `Client ${id}`,
    secretHash,
    isPublic: false,
    redirectUris: ['https://app.example/callback'],
    postLogoutRedirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['api:read'],
    audience: null,
    resources: [],
    createdAt: 1_700_000_000_000,
  }
}

/** Keeps `id` in `cache` as read now (nothing written since). */
function keep(cache: ReturnType<typeof sqliteClientCache>, id = 'c1'): void {
  cache.set(id, client(id), cache.generation())
}

/** A migrated SQLite file of its own (a file, so a second connection can open it as the CLI would). */
async function fileStore(t: Test): Promise<{ store: Store; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-client-cache-'))
  const path = join(dir, 'latchkey.sqlite')
  const store = connect({ kind: 'sqlite', path })
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  await migrate(store)
  return { store, path }
}

t.test('a client is read once, then served from the cache, frozen', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  const first = await clients.findById('c1')
  const second = await clients.findById('c1')
  t.equal(second, first, 'the same object: no second query')
  t.ok(Object.isFrozen(first) && Object.isFrozen(first?.scopes), 'nobody may change what every request shares')
  t.throws(() => (first as Client).scopes.push('admin'))
  t.equal(await clients.findById('nobody'), undefined)
  await clients.create(client('nobody'))
  t.equal((await clients.findById('nobody'))?.id, 'nobody', 'a client created after a miss is found')
})

t.test('self-registered clients are not cached (anyone may register them)', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create({ ...client('agent'), selfRegistered: true })
  const first = await clients.findById('agent')
  t.equal(first?.selfRegistered, true)
  t.not(await clients.findById('agent'), first, 'read again')
})

t.test('every write through the repository is seen at once', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  await clients.setSecretHash('c1', 'b'.repeat(64))
  t.equal((await clients.findById('c1'))?.secretHash, 'b'.repeat(64), 'a new secret')
  await clients.rotateSecret('c1', 'c'.repeat(64), 1_800_000_000_000)
  const rotated = await clients.findById('c1')
  t.equal(rotated?.secretHash, 'c'.repeat(64))
  t.equal(rotated?.previousSecretHash, 'b'.repeat(64))
  await clients.update('c1', { scopes: ['api:write'] })
  t.same((await clients.findById('c1'))?.scopes, ['api:write'], 'new scopes')
  await clients.remove('c1', Date.now())
  t.equal(await clients.findById('c1'), undefined, 'a removed client is gone')
})

t.test('a write on the same connection by any other path is seen: the trigger empties the cache', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  await sql`update clients set scopes = ${JSON.stringify(['other'])} where id = ${'c1'}`.execute(store.db)
  t.same((await clients.findById('c1'))?.scopes, ['other'])
  await sql`delete from clients where id = ${'c1'}`.execute(store.db)
  t.equal(await clients.findById('c1'), undefined)
})

t.test("another connection's commit (the CLI, another process) is seen at the next lookup", async (t) => {
  const { store, path } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  t.equal((await clients.findById('c1'))?.secretHash, 'a'.repeat(64))
  const cli = connect({ kind: 'sqlite', path })
  await repositories(cli).clients.setSecretHash('c1', 'd'.repeat(64))
  await cli.close()
  t.equal((await clients.findById('c1'))?.secretHash, 'd'.repeat(64))
  const other = new SqliteDatabase(path)
  other.prepare('delete from clients where id = ?').run('c1')
  other.close()
  t.equal(await clients.findById('c1'), undefined)
})

t.test('in a transaction: reads go to it; a rollback leaves the cache right', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  const transaction = inTransaction(store)
  await t.rejects(
    transaction(async (repos) => {
      await repos.clients.setSecretHash('c1', 'e'.repeat(64))
      t.equal((await repos.clients.findById('c1'))?.secretHash, 'e'.repeat(64), 'the transaction reads its own write')
      throw new Error('roll back')
    }),
    { message: 'roll back' },
  )
  t.equal((await clients.findById('c1'))?.secretHash, 'a'.repeat(64), 'the rolled-back secret is never served')
  // A lookup while a transaction that writes the client is open waits for it and reads the commit.
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let written!: () => void
  const hasWritten = new Promise<void>((resolve) => (written = resolve))
  const writing = transaction(async (repos) => {
    await repos.clients.setSecretHash('c1', 'f'.repeat(64))
    written()
    await held
  })
  await hasWritten
  const during = clients.findById('c1')
  release()
  await writing
  t.equal((await during)?.secretHash, 'f'.repeat(64))
  t.equal((await clients.findById('c1'))?.secretHash, 'f'.repeat(64))
})

t.test('a lookup while any transaction is open is not answered from the cache: it waits, as without one', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let begun!: () => void
  const hasBegun = new Promise<void>((resolve) => (begun = resolve))
  // As remove() does: other rows first, the client's own row last.
  const removing = store.db.transaction().execute(async (trx) => {
    await sql`update refresh_token_families set revoked_at = ${Date.now()} where client_id = ${'c1'}`.execute(trx)
    begun()
    await held
    await sql`delete from clients where id = ${'c1'}`.execute(trx)
  })
  await hasBegun
  const during = clients.findById('c1')
  release()
  await removing
  t.equal(await during, undefined, 'the lookup saw the removal, not the cached client')
})

t.test('repositories built on a transaction never use the cache, even when handed one', async (t) => {
  const { store } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  await t.rejects(
    store.db.transaction().execute(async (trx) => {
      const inside = repositories({ ...store, db: trx }).clients
      await inside.setSecretHash('c1', 'e'.repeat(64))
      t.equal((await inside.findById('c1'))?.secretHash, 'e'.repeat(64))
      throw new Error('roll back')
    }),
  )
  t.equal((await clients.findById('c1'))?.secretHash, 'a'.repeat(64), 'the uncommitted value was not kept')
})

t.test('another connection dropping and making the table again: writes to the new one are still seen', async (t) => {
  const { store, path } = await fileStore(t)
  const clients = repositories(store).clients
  await clients.create(client('c1'))
  await clients.findById('c1')
  const other = new SqliteDatabase(path)
  other.pragma('foreign_keys = OFF')
  other.exec('create table clients_copy as select * from clients; drop table clients; create table clients as select * from clients_copy; drop table clients_copy')
  other.close()
  t.equal((await clients.findById('c1'))?.secretHash, 'a'.repeat(64))
  await sql`update clients set secret_hash = ${'g'.repeat(64)} where id = ${'c1'}`.execute(store.db)
  t.equal((await clients.findById('c1'))?.secretHash, 'g'.repeat(64))
})

t.test('a client read while a write happened is not kept', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec("create table clients (id text primary key, name text); insert into clients values ('c1', 'one')")
  const cache = sqliteClientCache(sqlite)
  const from = cache.generation()
  sqlite.prepare('update clients set name = ? where id = ?').run('x', 'c1')
  cache.set('c1', client('c1'), from)
  t.equal(cache.get('c1'), undefined, 'read before the write: dropped')
  const now = cache.generation()
  cache.set('c1', client('c1'), now)
  t.ok(cache.get('c1'), 'read after it: kept')
})

t.test('no clients table yet, or a transaction open at first use: nothing is cached, nothing breaks', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  const cache = sqliteClientCache(sqlite)
  keep(cache)
  t.equal(cache.get('c1'), undefined, 'without the table (before migrations)')
  sqlite.exec('create table clients (id text primary key, name text)')
  sqlite.exec('begin')
  keep(cache)
  t.equal(cache.get('c1'), undefined, 'triggers are not made inside a transaction a rollback could undo')
  sqlite.exec('rollback')
  keep(cache)
  t.ok(cache.get('c1'), 'then they are made, and the cache works')
  t.same(sqlite.prepare("select name from sqlite_temp_master where type = 'trigger' order by name").pluck().all(), ['latchkey_clients_delete', 'latchkey_clients_insert', 'latchkey_clients_update'])
})

/** A connection with a clients table holding c1, and its cache holding c1. */
function cachedC1(t: Test) {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec("create table clients (id text primary key, name text); insert into clients values ('c1', 'one')")
  const cache = sqliteClientCache(sqlite)
  keep(cache)
  t.ok(cache.get('c1'), 'c1 cached')
  return { sqlite, cache }
}

t.test('a migration that rebuilds the clients table: the triggers are made again', async (t) => {
  const { sqlite, cache } = cachedC1(t)
  sqlite.exec('drop table clients; create table clients (id text primary key, name text, extra text)')
  t.equal(cache.get('c1'), undefined, 'the schema changed: emptied')
  keep(cache)
  t.ok(cache.get('c1'))
  sqlite.prepare('insert into clients (id, name) values (?, ?)').run('c2', 'two')
  t.equal(cache.get('c1'), undefined, 'a write to the new table still empties it')
})

t.test('a table renamed aside and made again on this connection: the triggers follow the new one', async (t) => {
  const { sqlite, cache } = cachedC1(t)
  sqlite.exec("alter table clients rename to clients_backup; create table clients (id text primary key, name text); insert into clients select * from clients_backup")
  keep(cache)
  t.ok(cache.get('c1'), 'cached again after the schema change')
  sqlite.prepare('update clients set name = ? where id = ?').run('renamed', 'c1')
  t.equal(cache.get('c1'), undefined, 'a write to the new table empties it')
})

t.test('one cache per connection: asking again gives the same one', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec("create table clients (id text primary key, name text); insert into clients values ('c1', 'one')")
  const first = sqliteClientCache(sqlite)
  t.equal(sqliteClientCache(sqlite), first)
  keep(first)
  sqlite.prepare('delete from clients').run()
  t.equal(first.get('c1'), undefined, 'its trigger still reaches it')
})

t.test('bounded: past its size it starts again empty', async (t) => {
  const sqlite = new SqliteDatabase(':memory:')
  t.teardown(() => sqlite.close())
  sqlite.exec('create table clients (id text primary key)')
  const cache = sqliteClientCache(sqlite, 2)
  for (const id of ['a', 'b']) keep(cache, id)
  t.ok(cache.get('a') && cache.get('b'))
  keep(cache, 'c')
  t.equal(cache.get('a'), undefined)
  t.ok(cache.get('c'))
})

t.test('PostgreSQL has no client cache (instances share it)', async (t) => {
  // No connection is opened: the pool connects on the first query.
  const store = connect({ kind: 'postgres', url: 'postgres://127.0.0.1:1/none' })
  t.teardown(() => store.close())
  t.equal(store.clientCache, undefined)
})
