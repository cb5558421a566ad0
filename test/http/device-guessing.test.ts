import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { MAX_USER_CODE_FAILURES, MAX_USER_CODE_FAILURES_PER_48, MAX_USER_CODE_FAILURES_PER_56 } from '../../src/authorization/device.js'
import { loadConfig } from '../../src/config.js'
import { randomToken, sha256Hex } from '../../src/oauth/secrets.js'
import { repositories } from '../../src/storage/repositories.js'
import { logLines, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf } from '../helpers/db.js'
import { createDeviceClient, startDevice } from '../helpers/device.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { createUser } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

async function loggedApp(t: Test, deps: { maxUserCodeFailuresGlobal?: number } = {}) {
  const lines: string[] = []
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await dialectOf(t).open(t)
  const clock = new FakeClock()
  const app = await buildApp(config, { store, keys: await fixtureKeyStore(), clock, passwords: testPasswords, logger: { level: 'info', stream: logLines(lines) }, ...deps })
  t.teardown(() => app.close())
  const ctx: TestApp = { app, config, store, keys: await fixtureKeyStore(), clock, repos: repositories(store) }
  const audit = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true)
  return { ctx, audit }
}

/** A fresh browser at `ip` opens /device and posts the code. */
async function enterFrom(ctx: TestApp, ip: string, userCode: string, browser = new Browser(ctx.app)) {
  const form = await browser.request({ method: 'GET', url: '/device', remoteAddress: ip })
  return browser.request({
    method: 'POST',
    url: '/device',
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...hiddenInputs(form.body, '/device'), user_code: userCode }).toString(),
  })
}

/** A post with a browser cookie made up on the spot and the CSRF token derived from it: no GET first. */
function inventedBrowserPost(ctx: TestApp, ip: string, userCode: string) {
  const browserId = randomToken(32)
  return ctx.app.inject({
    method: 'POST',
    url: '/device',
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `lk_browser=${browserId}` },
    payload: new URLSearchParams({ csrf_token: sha256Hex(`device-form:${browserId}`), user_code: userCode }).toString(),
  })
}

const counterRows = async (ctx: TestApp) => (await ctx.store.db.selectFrom('failure_counters').select('key_hash').execute()).length

t.test('every /64 of an IPv6 /56, then of a /48, shares one budget of wrong codes', async (t) => {
  const { ctx, audit } = await loggedApp(t)
  const client = await createDeviceClient(ctx)
  const started = await startDevice(ctx, client)
  // One wrong code from each of MAX_USER_CODE_FAILURES_PER_56 /64s of 2001:db8:1:ab00::/56.
  for (let i = 0; i < MAX_USER_CODE_FAILURES_PER_56; i++) {
    t.equal((await enterFrom(ctx, `2001:db8:1:ab${i.toString(16).padStart(2, '0')}::1`, 'BCDF-GHJK')).statusCode, 400)
  }
  const refused56 = await enterFrom(ctx, '2001:db8:1:abff::1', started.user_code)
  t.equal(refused56.statusCode, 429, 'a fresh /64 in the same /56 is refused, the right code included')
  t.ok(refused56.headers['retry-after'])
  // The rest of the /48's budget from other /56s.
  for (let i = MAX_USER_CODE_FAILURES_PER_56 + 1; i < MAX_USER_CODE_FAILURES_PER_48; i++) {
    t.equal((await enterFrom(ctx, `2001:db8:1:${i.toString(16)}00::1`, 'BCDF-GHJK')).statusCode, 400)
  }
  const refused48 = await enterFrom(ctx, '2001:db8:1:ff00::1', started.user_code)
  t.equal(refused48.statusCode, 429, 'a fresh /56 in the same /48 is refused')
  t.match(refused48.body, 'Too many wrong codes from your network')
  t.equal((await enterFrom(ctx, '2001:db8:2::1', 'BCDF-GHJK')).statusCode, 400, 'another /48 has its own budget')
  const throttled = audit().filter((line) => line.event === 'authorize_throttled')
  t.equal(throttled.length, 2, 'the /56 and the /48 each logged their first refusal once')
})

t.test('past the global limit every entry from anywhere is refused, the right code too; logged once per window', async (t) => {
  const { ctx, audit } = await loggedApp(t, { maxUserCodeFailuresGlobal: 12 })
  await createUser(ctx)
  const client = await createDeviceClient(ctx)
  const started = await startDevice(ctx, client)
  // One address at its own limit and beyond: the refusals past its limit do not eat the global budget.
  for (let i = 0; i < MAX_USER_CODE_FAILURES + 5; i++) await enterFrom(ctx, '192.0.2.1', 'BCDF-GHJK')
  t.equal((await enterFrom(ctx, '192.0.2.2', 'BCDF-GHJK')).statusCode, 400)
  t.equal((await enterFrom(ctx, '192.0.2.3', 'BCDF-GHJK')).statusCode, 400, 'the 12th checked code is still checked')
  const refused = await enterFrom(ctx, '198.51.100.7', started.user_code)
  t.equal(refused.statusCode, 429, 'a fresh address with the right code is refused')
  t.equal(refused.headers['retry-after'], '900')
  t.match(refused.body, 'from everywhere')
  t.equal((await enterFrom(ctx, '2001:db8:9::1', 'BCDF-GHJK')).statusCode, 429, 'IPv6 as well')
  t.match(audit().filter((line) => line.event === 'device_code_guessing'), [{ retryAfterSeconds: 900 }])
  t.equal(audit().filter((line) => line.event === 'device_code_guessing').length, 1, 'once per window')

  ctx.clock.advance(15 * 60_000)
  const next = await startDevice(ctx, client)
  t.match((await enterFrom(ctx, '198.51.100.7', next.user_code)).body, 'name="password"', 'the next window checks codes again')
})

t.test('a found code takes its entry back from every count', async (t) => {
  const { ctx } = await loggedApp(t, { maxUserCodeFailuresGlobal: 2 })
  await createUser(ctx)
  const client = await createDeviceClient(ctx)
  for (let i = 0; i < 3; i++) {
    const started = await startDevice(ctx, client)
    t.match((await enterFrom(ctx, '2001:db8:1::1', started.user_code)).body, 'name="password"')
  }
  t.equal((await enterFrom(ctx, '2001:db8:1::1', 'BCDF-GHJK')).statusCode, 400, 'found codes are not counted as wrong')
})

t.test('a throttled post with an invented browser cookie writes no failure counter', async (t) => {
  const { ctx } = await loggedApp(t, { maxUserCodeFailuresGlobal: 100 })
  for (let i = 0; i < MAX_USER_CODE_FAILURES; i++) t.equal((await inventedBrowserPost(ctx, '203.0.113.5', 'BCDF-GHJK')).statusCode, 400)
  const rows = await counterRows(ctx)
  t.equal(rows, MAX_USER_CODE_FAILURES + 2, 'the address, the global count and one row per invented browser')
  for (let i = 0; i < 5; i++) t.equal((await inventedBrowserPost(ctx, '203.0.113.5', 'BCDF-GHJK')).statusCode, 429)
  t.equal(await counterRows(ctx), rows, 'refused by the address: no browser row')

  const { ctx: busy } = await loggedApp(t, { maxUserCodeFailuresGlobal: 1 })
  await inventedBrowserPost(busy, '203.0.113.5', 'BCDF-GHJK')
  const before = await counterRows(busy)
  for (let i = 0; i < 5; i++) t.equal((await inventedBrowserPost(busy, `203.0.113.${10 + i}`, 'BCDF-GHJK')).statusCode, 429)
  t.equal(await counterRows(busy), before + 5, 'refused by the global count: one row per new address, none per browser')
})
