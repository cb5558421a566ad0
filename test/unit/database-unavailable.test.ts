import SqliteDatabase from 'better-sqlite3'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { connect } from '../../src/storage/connect.js'
import { isDatabaseUnavailable } from '../../src/storage/unavailable.js'
import { freePort } from '../helpers/server.js'

// The one rule the error handler answers 503 temporarily_unavailable by (the rest stays 500).

const pool = loadConfig({}).databasePool

async function failure(work: Promise<unknown>): Promise<unknown> {
  try {
    await work
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

t.test('which errors mean the database is unavailable', async (t) => {
  // Real errors where they are cheap to make.
  const port = await freePort()
  const refused = connect({ kind: 'postgres', url: `postgres://nobody@127.0.0.1:${port}/none` }, { pool })
  t.teardown(() => refused.close())
  const refusal = await failure(refused.ping())
  t.ok(isDatabaseUnavailable(refusal), `refused: ${String(refusal)}`)

  const dir = t.testdir()
  const holder = new SqliteDatabase(`${dir}/busy.sqlite`)
  holder.exec('create table t (x integer)')
  holder.exec('begin exclusive')
  const waiter = new SqliteDatabase(`${dir}/busy.sqlite`, { timeout: 0 })
  let busy: unknown
  try {
    waiter.exec('insert into t values (1)')
  } catch (error) {
    busy = error
  }
  holder.exec('rollback')
  holder.close()
  waiter.close()
  t.ok(isDatabaseUnavailable(busy), `SQLite busy past its timeout: ${String(busy)}`)

  const syntax = (() => {
    try {
      new SqliteDatabase(':memory:').exec('selec 1')
    } catch (error) {
      return error
    }
  })()
  t.notOk(isDatabaseUnavailable(syntax), 'a bad query is a bug, not an outage')
  t.notOk(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' })), 'a unique violation')
  t.notOk(isDatabaseUnavailable(new Error('boom')))
  t.notOk(isDatabaseUnavailable('ECONNREFUSED'), 'not an error at all')

  // What node-postgres and its pool say only in words, and SQLSTATEs of an outage.
  for (const message of ['Connection terminated unexpectedly', 'Connection terminated due to connection timeout', 'timeout exceeded when trying to connect', 'Query read timeout']) {
    t.ok(isDatabaseUnavailable(new Error(message)), message)
  }
  for (const code of ['57P01', '57P03', '08006', '53300', 'ECONNRESET', 'ETIMEDOUT']) {
    t.ok(isDatabaseUnavailable(Object.assign(new Error('x'), { code })), code)
  }
  t.ok(isDatabaseUnavailable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })), 'through a cause')
  t.ok(isDatabaseUnavailable(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })])), 'inside an AggregateError')
})

t.test('a request the client cut off stays its 400, though it carries a network code', async (t) => {
  const { toOAuthError } = await import('../../src/error-handler.js')
  // What fastify hands the error handler when the client resets the connection mid-body.
  const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 })
  t.ok(isDatabaseUnavailable(aborted), 'the code alone looks like an outage')
  t.match(toOAuthError(aborted, isDatabaseUnavailable), { code: 'invalid_request', status: 400 })
  // The same code from the driver (no status) is the outage.
  const lost = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
  t.match(toOAuthError(lost, isDatabaseUnavailable), { code: 'temporarily_unavailable', status: 503 })
})
