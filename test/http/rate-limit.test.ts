import t from 'tap'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { Browser } from '../helpers/browser.js'
import { FakeClock } from '../helpers/clock.js'
import { sqliteCase } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { exchange } from '../helpers/oauth.js'

async function limitedApp(t: Test) {
  const store = await sqliteCase.open(t)
  const app = await buildApp(loadConfig({}), {
    store,
    keys: await fixtureKeyStore(),
    clock: new FakeClock(),
    rateLimit: { loginPerMinute: 2, tokenPerMinute: 3 },
  })
  t.teardown(() => app.close())
  return app
}

t.test('/token answers 429 invalid_request as JSON once an IP exceeds its limit', async (t) => {
  const app = await limitedApp(t)
  for (let i = 0; i < 3; i++) t.equal((await exchange(app, { grant_type: 'authorization_code' })).statusCode, 401)
  const res = await exchange(app, { grant_type: 'authorization_code' })
  t.equal(res.statusCode, 429)
  t.same(res.json(), { error: 'invalid_request', error_description: 'too many requests; try again later' })
  t.equal(res.headers['cache-control'], 'no-store')
  t.ok(res.headers['retry-after'])
})

t.test('/authorize/login answers an error page with 429 once an IP exceeds its limit', async (t) => {
  const app = await limitedApp(t)
  const browser = new Browser(app)
  for (let i = 0; i < 2; i++) t.equal((await browser.post('/authorize/login', { transaction: 'x', csrf_token: 'y' })).statusCode, 403)
  const res = await browser.post('/authorize/login', { transaction: 'x', csrf_token: 'y' })
  t.equal(res.statusCode, 429)
  t.match(res.headers['content-type'], /text\/html/)
  t.match(res.body, /too many requests/)
  t.notOk(res.headers.location)
})
