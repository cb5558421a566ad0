import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loadKeyStore } from '../../src/keys/key-store.js'
import { repositories } from '../../src/storage/repositories.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { FakeClock } from '../helpers/clock.js'
import { sqliteCase } from '../helpers/db.js'
import { basic, codeRequest, createClient, createUser, exchange, PASSWORD, signIn } from '../helpers/oauth.js'

const WRONG_CREDENTIALS = { error: 'invalid_grant', error_description: 'wrong username or password' }
const THROTTLED = { error: 'invalid_grant', error_description: 'too many failed sign-ins for this account; try again later' }
const THROTTLED_PAGE = /Too many failed sign-ins for this account; try again in a few minutes\./

async function setup(t: Test, ctx?: TestApp) {
  ctx ??= await buildTestApp(t)
  await createUser(ctx)
  // One client for both sides: the login page (authorization_code) and the password grant.
  const client = await createClient(ctx, { grants: ['authorization_code', 'password'] })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const grant = (username: string, password: string) => exchange(ctx.app, { grant_type: 'password', username, password }, auth)
  return { ctx, client, grant }
}

async function failGrant(t: Test, grant: (u: string, p: string) => Promise<LightMyRequestResponse>, username: string, times: number) {
  for (let i = 0; i < times; i++) {
    const res = await grant(username, `wrong password ${i}`)
    t.same(res.json(), WRONG_CREDENTIALS, `failure ${i + 1} is checked`)
  }
}

t.test('after 5 failures even the right password is refused until the lockout ends', async (t) => {
  const { ctx, grant } = await setup(t)
  await failGrant(t, grant, 'alice', 5)
  const refused = await grant('alice', PASSWORD)
  t.equal(refused.statusCode, 400)
  t.equal(refused.headers['cache-control'], 'no-store')
  t.same(refused.json(), THROTTLED)
  ctx.clock.advance(59)
  t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'still locked after 59 s')
  ctx.clock.advance(1)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200, 'unlocked after a minute')
})

t.test('attempts during a lockout are not counted; each lockout after the first doubles', async (t) => {
  const { ctx, grant } = await setup(t)
  await failGrant(t, grant, 'alice', 5)
  for (let i = 0; i < 3; i++) t.same((await grant('alice', 'wrong again')).json(), THROTTLED)
  ctx.clock.advance(60)
  t.same((await grant('alice', 'wrong again')).json(), WRONG_CREDENTIALS, 'the sixth failure is checked')
  t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'and locks again')
  ctx.clock.advance(60)
  t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'for two minutes')
  ctx.clock.advance(60)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200)
})

t.test('a success resets the count', async (t) => {
  const { ctx, grant } = await setup(t)
  await failGrant(t, grant, 'alice', 4)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200)
  t.same(await ctx.store.db.selectFrom('login_attempts').selectAll().execute(), [], 'the row is gone')
  await failGrant(t, grant, 'alice', 4)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200, 'four more failures do not lock')
})

t.test('15 quiet minutes forget the failures', async (t) => {
  const { ctx, grant } = await setup(t)
  await failGrant(t, grant, 'alice', 4)
  ctx.clock.advance(15 * 60)
  await failGrant(t, grant, 'alice', 4)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200)
})

t.test('unknown usernames are throttled alike, so the answers reveal nothing', async (t) => {
  const { ctx, grant } = await setup(t)
  await failGrant(t, grant, 'mallory', 5)
  const unknown = await grant('mallory', PASSWORD)
  await failGrant(t, grant, 'alice', 5)
  const known = await grant('alice', PASSWORD)
  t.equal(unknown.statusCode, known.statusCode)
  t.equal(unknown.body, known.body)
  t.same(known.json(), THROTTLED)
  const keys = (await ctx.store.db.selectFrom('login_attempts').select('key_hash').execute()).map((r) => r.key_hash)
  t.equal(keys.length, 2)
  for (const key of keys) t.match(key, /^[0-9a-f]{64}$/, 'stored as a hash, not the username')
})

t.test('usernames differing only in case share a count', async (t) => {
  const { grant } = await setup(t)
  await failGrant(t, grant, 'ALICE', 3)
  await failGrant(t, grant, 'Alice', 2)
  t.same((await grant('alice', PASSWORD)).json(), THROTTLED)
})

t.test('a throttled sign-in re-renders the login page with 429 and keeps the transaction usable', async (t) => {
  const { ctx, client } = await setup(t)
  const browser = new Browser(ctx.app)
  let page = await browser.get(codeRequest(client).url)
  const first = page
  for (let i = 0; i < 5; i++) {
    page = await signIn(browser, page, 'alice', `wrong password ${i}`)
    t.equal(page.statusCode, 401)
    t.match(page.body, /Wrong username or password\./)
  }
  const refused = await signIn(browser, page, 'alice', PASSWORD)
  t.equal(refused.statusCode, 429)
  t.match(refused.body, THROTTLED_PAGE)
  t.notMatch(refused.body, /Wrong username or password/)
  t.match(refused.body, /name="password"/)
  t.match(refused.body, /value="alice"/, 'username kept in the form')
  t.equal(refused.headers['cache-control'], 'no-store')
  t.match(refused.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.notOk(refused.cookies.find((c) => c.name === 'lk_session'), 'no session')
  t.same(hiddenInputs(refused.body), hiddenInputs(first.body), 'same transaction')
  ctx.clock.advance(60)
  const ok = await signIn(browser, refused, 'alice', PASSWORD)
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /value="allow"/, 'on to the consent page')
  t.ok(browser.cookies.get('lk_session'))
})

t.test('the login page and the password grant share one count', async (t) => {
  const { ctx, client, grant } = await setup(t)
  const browser = new Browser(ctx.app)
  let page = await browser.get(codeRequest(client).url)
  for (let i = 0; i < 3; i++) page = await signIn(browser, page, 'alice', 'wrong password')
  t.equal(page.statusCode, 401)
  await failGrant(t, grant, 'alice', 2)
  t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'locked for the grant')
  const refused = await signIn(browser, page, 'alice', PASSWORD)
  t.equal(refused.statusCode, 429, 'and for the login page')
  t.match(refused.body, THROTTLED_PAGE)
  ctx.clock.advance(60)
  const ok = await signIn(browser, refused, 'alice', PASSWORD)
  t.equal(ok.statusCode, 200, 'a success on the login page...')
  await failGrant(t, grant, 'alice', 4)
  t.equal((await grant('alice', PASSWORD)).statusCode, 200, '...reset the count for the grant too')
})

t.test('a lockout is logged once as a warn-level security event, without username or password', async (t) => {
  const lines: string[] = []
  const store = await sqliteCase.open(t)
  const clock = new FakeClock()
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const keys = await loadKeyStore(t.testdir())
  const app = await buildApp(config, { store, keys, clock, logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } })
  t.teardown(() => app.close())
  const { client, grant } = await setup(t, { app, config, store, keys, clock, repos: repositories(store) })

  await failGrant(t, grant, 'alice', 4)
  t.same(lines, [], 'nothing before the lockout')
  await failGrant(t, grant, 'alice', 1)
  t.equal(lines.length, 1)
  const event = JSON.parse(lines[0] as string)
  t.equal(event.level, 40, 'warn')
  t.match(event, { event: 'login_lockout', failures: 5, lockedUntil: new Date(clock.now() + 60_000).toISOString(), ip: '127.0.0.1' })
  for (let i = 0; i < 3; i++) await grant('alice', PASSWORD)
  t.equal(lines.length, 1, 'refused attempts log nothing more')
  clock.advance(60)
  const browser = new Browser(app)
  const page = await browser.get(codeRequest(client).url)
  t.equal((await signIn(browser, page, 'alice', 'wrong password')).statusCode, 401)
  t.equal(lines.length, 2, 'the login page logs the next lockout')
  t.match(JSON.parse(lines[1] as string), { level: 40, event: 'login_lockout', failures: 6, lockedUntil: new Date(clock.now() + 120_000).toISOString() })
  const logged = lines.join('\n')
  t.notMatch(logged, /alice/i, 'no username')
  t.notMatch(logged, /wrong password|correct horse/, 'no password')
})
