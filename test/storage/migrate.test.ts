import { join } from 'node:path'
import t, { type Test } from 'tap'
import { type Kysely, sql } from 'kysely'
import { connect, type Store } from '../../src/storage/connect.js'
import pg from 'pg'
import { migrate, MigrationError, MIGRATION_LOCK_KEY } from '../../src/storage/migrate.js'
import { migrations } from '../../src/storage/migrations/index.js'
import { repositories } from '../../src/storage/repositories.js'
import { TEST_DATABASE_URL, createSchema, ownTableNames } from '../helpers/db.js'
import { runCli, runCliInProcess } from '../helpers/cli.js'

const failing = {
  ...migrations,
  '2099-01-01-01-broken': {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>) {
      await db.schema.createTable('half_done').addColumn('id', 'integer').execute()
      await sql`this is not sql`.execute(db)
    },
  },
}

/**
 * Whether the connection that migrated still holds the migration lock. The pool hands back the
 * connection released last (pg-pool keeps its idle clients as a stack), which is that one; another
 * session's view would also see other test files' migrations holding the lock.
 */
async function holdsLock(store: Store): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks
    where locktype = 'advisory' and granted and objid = ${Number(MIGRATION_LOCK_KEY & 0xffffffffn)} and pid = pg_backend_pid()`.execute(store.db)
  return rows[0]!.n > 0
}

type Opener = (t: Test) => Promise<() => Store>

const openers: Array<[string, Opener]> = [
  [
    'sqlite',
    async (t) => {
      const path = join(t.testdir(), 'db.sqlite')
      return () => {
        const s = connect({ kind: 'sqlite', path })
        t.teardown(() => s.close())
        return s
      }
    },
  ],
]
if (TEST_DATABASE_URL) {
  openers.push([
    'postgres',
    async (t) => {
      const schema = await createSchema(t)
      return () => {
        const s = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema })
        t.teardown(() => s.close())
        return s
      }
    },
  ])
} else {
  t.comment('TEST_DATABASE_URL is not set: PostgreSQL migration cases are skipped')
}

for (const [name, opener] of openers) {
  t.test(`${name}: applies every migration once`, async (t) => {
    const open = await opener(t)
    const store = open()
    t.same(await migrate(store), Object.keys(migrations))
    if (name === 'postgres') t.notOk(await holdsLock(store), 'the run let go of the migration lock')
    t.same(await migrate(store), [], 'a second run applies nothing')
    t.ok((await ownTableNames(store)).includes('users'))
  })

  t.test(`${name}: a failing migration leaves nothing half-applied`, async (t) => {
    const open = await opener(t)
    const store = open()
    const error = await migrate(store, failing).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(error, MigrationError)
    t.match((error as Error).message, /2099-01-01-01-broken/)
    const tables = await ownTableNames(store)
    t.notOk(tables.includes('half_done'), 'the broken migration rolled back')
    t.notOk(tables.includes('users'), 'the whole batch rolled back')
    if (name === 'postgres') t.notOk(await holdsLock(store), 'the failed run let go of the migration lock')
    t.same(await migrate(store), Object.keys(migrations), 'a fixed run applies cleanly afterwards')
  })

  t.test(`${name}: an older latchkey refuses a database a newer one migrated, and changes nothing`, async (t) => {
    const store = (await opener(t))()
    await migrate(store)
    const names = Object.keys(migrations)
    const older = Object.fromEntries(Object.entries(migrations).slice(0, -1))
    const error = await migrate(store, older).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(error, MigrationError)
    t.match((error as Error).message, `the database was migrated by a newer latchkey (migration ${names[names.length - 1]} is unknown to this one)`)
    t.same(await migrate(store), [], 'the newer one still finds its database whole')
  })
}

for (const [name, opener] of openers) {
  t.test(`${name}: client-audiences gives existing clients an empty resource list and drops consents that named no resource`, async (t) => {
    const store = (await opener(t))()
    const names = Object.keys(migrations)
    const before = Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf('2026-11-30-03-client-audiences')))
    await migrate(store, before)
    const db = store.db as unknown as Kysely<any> // eslint-disable-line @typescript-eslint/no-explicit-any
    await db.insertInto('users').values({ id: '7f1f8d52-2f7b-4c55-9b54-0b7f8a3c2c11', username: 'alice', password_hash: 'h', created_at: 0 }).execute()
    await db
      .insertInto('clients')
      .values({ id: 'lk_old', name: 'Old', secret_hash: 'h', is_public: 0, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', created_at: 0 })
      .execute()
    await db.insertInto('consents').values({ client_id: 'lk_old', user_id: '7f1f8d52-2f7b-4c55-9b54-0b7f8a3c2c11', scopes: '["openid"]', created_at: 0, updated_at: 0 }).execute()
    t.same(await migrate(store), names.slice(Object.keys(before).length))
    const repos = repositories(store)
    t.same((await repos.clients.findById('lk_old'))?.resources, [], 'DEFAULT_AUDIENCE only, as before')
    t.equal(await repos.consents.find('lk_old', '7f1f8d52-2f7b-4c55-9b54-0b7f8a3c2c11', 'http://localhost:4000'), undefined, 'for no resource: asked once more')
    t.equal(Number((await db.selectFrom('consents').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 0)
  })
}

// Separate processes, as instances starting together would be (better-sqlite3 waits for a lock
// synchronously, so in-process concurrency would only measure the event loop).
const databaseUrls: Array<[string, (t: Test) => Promise<string>]> = [['sqlite', async (t) => join(t.testdir(), 'db.sqlite')]]
if (TEST_DATABASE_URL) {
  databaseUrls.push(['postgres', async (t) => {
    const schema = await createSchema(t)
    const url = new URL(TEST_DATABASE_URL as string)
    url.searchParams.set('options', `-c search_path=${schema}`)
    return url.toString()
  }])
}

for (const [name, makeUrl] of databaseUrls) {
  t.test(`${name}: three processes migrating an empty database together apply each migration once`, async (t) => {
    const env = { DATABASE_URL: await makeUrl(t), KEYS_DIR: t.testdir() }
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate', '--json'], { env })))
    for (const run of runs) t.equal(run.code, 0, run.stderr)
    const applied = runs.flatMap((run) => (JSON.parse(run.stdout) as { applied: string[] }).applied)
    t.same(applied, Object.keys(migrations), 'each migration applied by exactly one process')
    // Only the concurrent start needs processes of its own.
    const after = await runCliInProcess(['scope', 'add', 'extra', '--description', 'x', '--json'], { env })
    t.equal(after.code, 0, after.stderr)
    const again = await runCliInProcess(['migrate', '--json'], { env })
    t.same(JSON.parse(again.stdout), { applied: [] })
  })
}

t.test('postgres: a schema migrates although another schema of the database already holds kysely tables', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const open = async () => {
    const schema = await createSchema(t)
    const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema })
    t.teardown(() => store.close())
    return store
  }
  const first = await open()
  t.same(await migrate(first), Object.keys(migrations))
  const second = await open()
  t.same(await migrate(second), Object.keys(migrations), 'kysely looked in its own schema, not the first one')
  t.ok((await ownTableNames(second)).includes('refresh_tokens'))
})

t.test('postgres: a migration waits for the lock before it reads any catalog', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  // Another instance migrating (of this schema or another) holds the lock.
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL as string })
  await holder.connect()
  t.teardown(() => holder.end())
  await holder.query(`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`)
  const schema = await createSchema(t)
  const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema })
  t.teardown(() => store.close())
  let finished = false
  const running = migrate(store).then((names) => {
    finished = true
    return names
  })
  // Until the migrating connection is seen waiting on the lock (not merely slow to get there).
  const waiting = async () =>
    (await holder.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and objid = $1", [Number(MIGRATION_LOCK_KEY & 0xffffffffn)])).rows[0].n > 0
  while (!finished && !(await waiting())) await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(finished, 'still waiting while the lock is held')
  const { rows } = await holder.query(
    "select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1",
    [schema],
  )
  t.equal(rows[0].n, 0, 'nothing created in the schema before the lock')
  await holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`)
  t.same(await running, Object.keys(migrations), 'then it migrates')
})
