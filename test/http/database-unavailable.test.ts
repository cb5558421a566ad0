import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { connect } from '../../src/storage/connect.js'
import { buildTestApp, logLines } from '../helpers/app.js'
import type { DialectCase } from '../helpers/db.js'
import { freePort } from '../helpers/server.js'

// The error handler's side of an outage, in-process: a PostgreSQL store on a port where nothing
// listens (no database needed). test/e2e/database-outage.test.ts does it to a real one.

async function unreachable(): Promise<DialectCase> {
  const port = await freePort()
  return {
    name: 'postgres',
    async open(t) {
      const store = connect({ kind: 'postgres', url: `postgres://latchkey:db-password@127.0.0.1:${port}/latchkey` }, { pool: loadConfig({}).databasePool })
      t.teardown(() => store.close())
      return store
    },
  }
}

t.test('an unreachable database: 503 temporarily_unavailable in each format, logged as a warning without the URL', async (t) => {
  const lines: string[] = []
  const { app } = await buildTestApp(t, { dialect: await unreachable(), logger: { level: 'info', stream: logLines(lines) } })

  const token = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('svc:secret').toString('base64')}` },
    payload: 'grant_type=client_credentials',
  })
  t.equal(token.statusCode, 503)
  t.same(token.json(), { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' })
  t.equal(token.headers['retry-after'], '5')
  t.equal(token.headers['cache-control'], 'no-store')

  // A /token preflight looks its origin up (app.ts corsPolicy): that failure is a 503 too.
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/token',
    headers: { origin: 'https://spa.example.com', 'access-control-request-method': 'POST' },
  })
  t.equal(preflight.statusCode, 503, 'a preflight whose origin lookup fails')
  t.notOk(preflight.headers['access-control-allow-origin'])

  const revoke = await app.inject({
    method: 'POST',
    url: '/revoke',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('svc:secret').toString('base64')}` },
    payload: 'token=abc',
  })
  t.equal(revoke.statusCode, 503)
  t.equal(revoke.json().error, 'temporarily_unavailable')

  const page = await app.inject('/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb')
  t.equal(page.statusCode, 503)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /is briefly unavailable/)
  t.match(page.body, /<code>temporarily_unavailable<\/code>/)
  t.equal(page.headers['retry-after'], '5')

  const german = await app.inject({ url: '/authorize?client_id=web', headers: { 'accept-language': 'de' } })
  t.equal(german.statusCode, 503)
  t.match(german.body, /ist gerade kurz nicht verfügbar/)

  const health = await app.inject('/healthz')
  t.equal(health.statusCode, 503)
  t.same(health.json(), { status: 'unavailable', database: 'unreachable' })

  const log = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  const warnings = log.filter((e) => e.event === 'database_unavailable')
  t.equal(warnings.length, 5, 'one warning per failed request')
  t.match(warnings[0], { level: 40, msg: 'database unavailable', cause: { code: 'ECONNREFUSED', message: /ECONNREFUSED/ } })
  t.notOk(log.some((e) => e.msg === 'unhandled error'), 'not logged as a bug')
  t.notMatch(lines.join(''), /db-password/, 'the connection string is never logged')
})
