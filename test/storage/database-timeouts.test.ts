import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { connect, QUERY_TIMEOUT_MARGIN_MS, type Store } from '../../src/storage/connect.js'
import { isDatabaseUnavailable } from '../../src/storage/unavailable.js'
import { createSchema, postgresRequired, TEST_DATABASE_URL } from '../helpers/db.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

// DB_POOL_SIZE and DB_STATEMENT_TIMEOUT_MS on a real PostgreSQL, at the storage level: a query
// that runs too long or gets no answer is cut off, and what it leaves behind is not reused.

const STATEMENT_TIMEOUT_MS = 1000
const pool = loadConfig({ DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS), DB_POOL_SIZE: '2' }).databasePool

async function timed<T>(work: Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now()
  try {
    await work
    return { ms: Date.now() - started, error: undefined }
  } catch (error) {
    return { ms: Date.now() - started, error }
  }
}

async function proxiedStore(t: Test): Promise<{ store: Store; proxy: TcpProxy }> {
  const target = new URL(TEST_DATABASE_URL as string)
  const proxy = await startTcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) })
  const url = new URL(target.href)
  url.host = `127.0.0.1:${proxy.port}`
  const store = connect({ kind: 'postgres', url: url.href }, { schema: await createSchema(t), pool })
  t.teardown(() => store.close())
  await store.ping()
  return { store, proxy }
}

if (postgresRequired(t, 'the statement-timeout test')) {
  t.test('a statement running longer than DB_STATEMENT_TIMEOUT_MS is cancelled by the server; the connection stays usable', async (t) => {
    const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema: await createSchema(t), pool })
    t.teardown(() => store.close())
    const { ms, error } = await timed(sql`select pg_sleep(30)`.execute(store.db))
    t.match(error, { code: '57014' }, 'query_canceled: statement timeout')
    t.ok(ms >= STATEMENT_TIMEOUT_MS - 50 && ms < STATEMENT_TIMEOUT_MS + 1500, `cut off after ${ms} ms`)
    t.ok(isDatabaseUnavailable(error), 'answered as 503 temporarily_unavailable')
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(store.db)
    t.same(rows, [{ one: 1 }], 'the next query runs')
  })

  t.test('a query that gets no answer (the network drops everything) fails after the query timeout', async (t) => {
    const { store, proxy } = await proxiedStore(t)
    proxy.blackHole()
    const { ms, error } = await timed(store.ping())
    t.match(error, { message: 'Query read timeout' })
    t.ok(isDatabaseUnavailable(error))
    const limit = STATEMENT_TIMEOUT_MS + QUERY_TIMEOUT_MARGIN_MS
    t.ok(ms >= limit - 50 && ms < limit + 1500, `cut off after ${ms} ms`)
    // A new connection that never gets an answer fails too, after the connection timeout.
    const opening = await timed(store.ping())
    t.ok(isDatabaseUnavailable(opening.error), String(opening.error))
    t.ok(opening.ms < limit + 1500, `a new connection gave up after ${opening.ms} ms`)
    await proxy.restore()
    await t.resolves(store.ping(), 'works again once the network is back')
  })

  t.test('a connection whose query got no answer is closed, not handed to the next query', async (t) => {
    const { store, proxy } = await proxiedStore(t)
    // Only the open connection goes silent (a firewall forgot it); new connections work.
    proxy.blackHole({ newConnections: 'forward' })
    const stuck = await timed(store.ping())
    t.match(stuck.error, { message: 'Query read timeout' })
    const before = proxy.accepted()
    const next = await timed(store.ping())
    t.equal(next.error, undefined, 'the next query succeeds')
    t.ok(next.ms < 500, `on a new connection, at once (${next.ms} ms), not queued behind the stuck query`)
    t.equal(proxy.accepted(), before + 1, 'a new connection was opened')
  })

  t.test('a connection dying while a transaction holds it fails the transaction and does not crash the process', async (t) => {
    const { store, proxy } = await proxiedStore(t)
    const outcome = await timed(
      store.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx)
        // The database goes away between two statements: node-postgres emits 'error' on a client
        // the pool does not listen to, which without a listener would end the process.
        await proxy.refuse()
        await new Promise((resolve) => setTimeout(resolve, 100))
        await sql`select 1`.execute(trx)
      }),
    )
    t.ok(isDatabaseUnavailable(outcome.error), String(outcome.error))
    t.ok(outcome.ms < 2000, `failed at once (${outcome.ms} ms), the rollback included`)
    await t.rejects(store.ping(), 'refused while down')
    await proxy.restore()
    await t.resolves(store.ping(), 'and works again once it is back')
  })
}
