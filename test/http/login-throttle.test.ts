import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { addressKey, usernameKey } from '../../src/accounts/login-throttle.js'
import { buildTestApp, logLines } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { basic, codeRequest, createClient, createUser, PASSWORD, signIn } from '../helpers/oauth.js'

const WRONG_CREDENTIALS = { error: 'invalid_grant', error_description: 'wrong username or password' }
const THROTTLED = { error: 'invalid_grant', error_description: 'too many failed sign-ins; try again later' }
const THROTTLED_PAGE = /Too many failed sign-ins; try again in a few minutes\./

// app.inject's own address, which request.ip reports unless told otherwise.
const HOME = '127.0.0.1'
type GrantFn = (username: string, password: string, ip?: string) => Promise<LightMyRequestResponse>

async function setup(t: Test, options: { logLines?: string[] } = {}) {
  const lines = options.logLines
  const logger = lines ? { level: 'warn', stream: logLines(lines) } : undefined
  const ctx = await buildTestApp(t, logger ? { logger } : {})
  await createUser(ctx)
  // One client for both sides: the login page (authorization_code) and the password grant.
  const client = await createClient(ctx, { grants: ['authorization_code', 'password'] })
  const authorization = basic(client.client_id, client.client_secret as string)
  const grant: GrantFn = (username, password, ip = HOME) =>
    ctx.app.inject({
      method: 'POST',
      url: '/token',
      remoteAddress: ip,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      payload: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
    })
  // The count for this username from this address, and for this username from anywhere.
  const counts = async (username: string, ip = HOME) => ({
    address: (await ctx.repos.loginAttempts.find(addressKey(username, ip)))?.failures,
    username: (await ctx.repos.loginAttempts.find(usernameKey(username)))?.failures,
  })
  return { ctx, client, grant, counts }
}

async function failGrant(t: Test, grant: GrantFn, username: string, times: number, ip = HOME) {
  for (let i = 0; i < times; i++) {
    const res = await grant(username, `wrong password ${i}`, ip)
    t.same(res.json(), WRONG_CREDENTIALS, `failure ${i + 1} from ${ip} is checked`)
  }
}

/** `total` failures for the username, at most 4 from each address, so no address locks. */
async function failFromMany(t: Test, grant: GrantFn, username: string, total: number, firstAddress = 1) {
  for (let i = 0; i < total; i++) {
    const ip = `198.51.100.${firstAddress + Math.floor(i / 4)}`
    t.same((await grant(username, `wrong password ${i}`, ip)).json(), WRONG_CREDENTIALS, `failure ${i + 1} is checked`)
  }
}

function signInFrom(browser: Browser, page: LightMyRequestResponse, ip: string, username: string, password: string) {
  return browser.request({
    method: 'POST',
    url: '/authorize/login',
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...hiddenInputs(page.body, '/authorize/login'), username, password }).toString(),
  })
}

eachDialect(t, (t) => {
  t.test('after 5 failures from one address even the right password from it is refused until the lockout ends', async (t) => {
    const { ctx, grant, counts } = await setup(t)
    await failGrant(t, grant, 'alice', 5)
    const refused = await grant('alice', PASSWORD)
    t.equal(refused.statusCode, 400)
    t.equal(refused.headers['cache-control'], 'no-store')
    t.same(refused.json(), THROTTLED)
    t.same(await counts('alice'), { address: 5, username: 5 }, 'the refusal counts against neither key')
    ctx.clock.advance(59)
    t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'still locked after 59 s')
    ctx.clock.advance(1)
    t.equal((await grant('alice', PASSWORD)).statusCode, 200, 'unlocked after a minute')
  })

  t.test('the real user at another address signs in while one address is locked out', async (t) => {
    const { ctx, client, grant, counts } = await setup(t)
    await failGrant(t, grant, 'alice', 5, '203.0.113.9')
    t.same((await grant('alice', PASSWORD, '203.0.113.9')).json(), THROTTLED, 'the guessing address is locked out')
    t.equal((await grant('alice', PASSWORD, '192.0.2.10')).statusCode, 200, 'the password grant from another address works')
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    const ok = await signInFrom(browser, page, '192.0.2.11', 'alice', PASSWORD)
    t.equal(ok.statusCode, 200, 'and so does the login page')
    t.match(ok.body, /value="allow"/)
    t.same(await counts('alice', '203.0.113.9'), { address: 5, username: undefined }, 'the success cleared the username count only')
    t.same((await grant('alice', PASSWORD, '203.0.113.9')).json(), THROTTLED, 'the guessing address stays locked')
  })

  t.test('one address failing each time its lockout ends, for hours, never locks out the user elsewhere', async (t) => {
    // The attack that kept a per-username count locked for good.
    const { ctx, grant, counts } = await setup(t)
    const attacker = '203.0.113.9'
    const start = ctx.clock.now()
    await failGrant(t, grant, 'alice', 5, attacker)
    for (let i = 0; i < 20; i++) {
      const lock = await ctx.repos.loginAttempts.find(addressKey('alice', attacker))
      // Guesses all through the lockout are refused, and counted nowhere.
      const quarter = ((lock?.lockedUntil as number) - ctx.clock.now()) / 4000
      for (let q = 0; q < 3; q++) {
        ctx.clock.advance(quarter)
        t.same((await grant('alice', PASSWORD, attacker)).json(), THROTTLED, `lockout ${i + 1} holds`)
      }
      ctx.clock.advance(quarter)
      t.same((await grant('alice', `wrong again ${i}`, attacker)).json(), WRONG_CREDENTIALS, `a guess as lockout ${i + 1} ends`)
    }
    t.ok(ctx.clock.now() - start > 4 * 3600_000, 'over four hours')
    t.ok(((await counts('alice', attacker)).username ?? 0) < 10, 'the username count never builds up')
    t.equal((await grant('alice', PASSWORD, '192.0.2.10')).statusCode, 200, 'the user elsewhere signs in')
  })

  t.test('50 failures spread over many addresses, on both sides, lock the username for everyone', async (t) => {
    const lines: string[] = []
    const { ctx, client, grant, counts } = await setup(t, { logLines: lines })
    const browser = new Browser(ctx.app)
    let page = await browser.get(codeRequest(client).url)
    for (let i = 0; i < 24; i++) {
      page = await signInFrom(browser, page, `198.51.100.${101 + Math.floor(i / 4)}`, 'alice', `wrong password ${i}`)
      t.equal(page.statusCode, 401, `login page failure ${i + 1} is checked`)
    }
    await failFromMany(t, grant, 'alice', 25)
    const locks = () => lines.map((line) => JSON.parse(line)).filter((line) => line.event === 'signin_locked')
    t.same(locks(), [], 'no lock yet')
    t.same(await counts('alice', '198.51.100.1'), { address: 4, username: 49 }, 'the login page and the grant share the count')
    t.same((await grant('alice', 'wrong password 49', '198.51.100.99')).json(), WRONG_CREDENTIALS, 'the 50th failure is checked')
    t.equal(locks().length, 1)
    t.match(locks()[0], {
      level: 30,
      event: 'signin_locked',
      lock: 'username',
      failures: 50,
      lockedUntil: new Date(ctx.clock.now() + 60_000).toISOString(),
      ip: '198.51.100.99',
    })
    t.notMatch(lines.join('\n'), /alice|wrong password|correct horse/i, 'no username or password logged')
    for (const ip of ['192.0.2.10', HOME, '198.51.100.1']) t.same((await grant('alice', PASSWORD, ip)).json(), THROTTLED, `right password refused from ${ip}`)
    page = await signInFrom(browser, page, '192.0.2.11', 'alice', PASSWORD)
    t.equal(page.statusCode, 429, 'on the login page too')
    t.match(page.body, THROTTLED_PAGE)
    t.same(await counts('alice', '192.0.2.10'), { address: undefined, username: 50 }, 'refusals count against neither key')
    t.equal((await grant('bob', 'wrong password', '192.0.2.10')).statusCode, 400)
    t.same(await counts('bob', '192.0.2.10'), { address: 1, username: 1 }, 'other usernames are not locked')
    ctx.clock.advance(60)
    const ok = await signInFrom(browser, page, '192.0.2.11', 'alice', PASSWORD)
    t.equal(ok.statusCode, 200, 'unlocked after a minute')
    t.match(ok.body, /value="allow"/)
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

  t.test('a success resets both counts', async (t) => {
    const { grant, counts } = await setup(t)
    await failGrant(t, grant, 'alice', 4)
    await failFromMany(t, grant, 'alice', 45)
    t.same(await counts('alice'), { address: 4, username: 49 })
    t.equal((await grant('alice', PASSWORD)).statusCode, 200)
    t.same(await counts('alice'), { address: undefined, username: undefined }, 'both rows are gone')
    t.same(await counts('alice', '198.51.100.1'), { address: 4, username: undefined }, 'other addresses keep their own counts')
    await failGrant(t, grant, 'alice', 4)
    await failGrant(t, grant, 'alice', 1, '192.0.2.10')
    t.equal((await grant('alice', PASSWORD)).statusCode, 200, 'no lock: without the resets these would be the 8th and the 54th failures')
    t.same(await counts('alice'), { address: undefined, username: undefined })
    t.same(await counts('alice', '192.0.2.10'), { address: 1, username: undefined }, 'the other address keeps its count')
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
    t.same(keys.sort(), [addressKey('alice', HOME), usernameKey('alice'), addressKey('mallory', HOME), usernameKey('mallory')].sort())
    for (const key of keys) t.match(key, /^[0-9a-f]{64}$/, 'stored as a hash, not the username or address')
  })

  t.test('usernames differing only in case share both counts', async (t) => {
    const { grant, counts } = await setup(t)
    await failGrant(t, grant, 'ALICE', 3)
    await failGrant(t, grant, 'Alice', 2)
    t.same(await counts('alice'), { address: 5, username: 5 })
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

  // The username count is shared too: see '50 failures spread over many addresses, on both sides'.
  t.test('the login page and the password grant share the count for an address', async (t) => {
    const { ctx, client, grant } = await setup(t)
    const browser = new Browser(ctx.app)
    let page = await browser.get(codeRequest(client).url)
    for (let i = 0; i < 3; i++) page = await signIn(browser, page, 'alice', 'wrong password')
    t.equal(page.statusCode, 401)
    await failGrant(t, grant, 'alice', 2)
    t.same((await grant('alice', PASSWORD)).json(), THROTTLED, 'the address is locked for the grant')
    const refused = await signIn(browser, page, 'alice', PASSWORD)
    t.equal(refused.statusCode, 429, 'and for the login page')
    t.match(refused.body, THROTTLED_PAGE)
    ctx.clock.advance(60)
    const ok = await signIn(browser, refused, 'alice', PASSWORD)
    t.equal(ok.statusCode, 200, 'a success on the login page...')
    await failGrant(t, grant, 'alice', 4)
    t.equal((await grant('alice', PASSWORD)).statusCode, 200, '...reset the count for the grant too')
  })

  t.test('a lockout is recorded once as an audit event, without username or password', async (t) => {
    const lines: string[] = []
    const { ctx, client, grant } = await setup(t, { logLines: lines })
    const { app, clock } = ctx
    const locks = () => lines.map((line) => JSON.parse(line)).filter((line) => line.event === 'signin_locked')
    await failGrant(t, grant, 'alice', 4)
    t.same(locks(), [], 'nothing before the lockout')
    await failGrant(t, grant, 'alice', 1)
    t.equal(locks().length, 1)
    const event = locks()[0]
    t.equal(event.level, 30, 'info: audit events are written at any LOG_LEVEL')
    t.match(event, { audit: true, event: 'signin_locked', lock: 'address', failures: 5, lockedUntil: new Date(clock.now() + 60_000).toISOString(), ip: HOME })
    const before = lines.length
    for (let i = 0; i < 3; i++) await grant('alice', PASSWORD)
    t.equal(lines.length, before, 'refused attempts record nothing more')
    clock.advance(60)
    const browser = new Browser(app)
    const page = await browser.get(codeRequest(client).url)
    t.equal((await signIn(browser, page, 'alice', 'wrong password')).statusCode, 401)
    t.equal(locks().length, 2, 'the login page records the next lockout')
    t.match(locks()[1], {
      level: 30,
      event: 'signin_locked',
      lock: 'address',
      failures: 6,
      lockedUntil: new Date(clock.now() + 120_000).toISOString(),
    })
    const logged = lines.join('\n')
    t.notMatch(logged, /alice/i, 'no username')
    t.notMatch(logged, /wrong password|correct horse/, 'no password')
  })
})
