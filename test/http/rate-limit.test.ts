import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { clientAuthKey, signInAddressKey } from '../../src/accounts/failure-limits.js'
import { usernameKey } from '../../src/accounts/login-throttle.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { basic, codeRequest, createClient, createUser, exchange, PASSWORD } from '../helpers/oauth.js'

// Limits on failures (README "Limits"): successes are never counted, failures are, per client_id
// and address for client authentication and per address for sign-ins.

const ATTACKER = '203.0.113.9'
const ELSEWHERE = '192.0.2.10'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const CLIENT_AUTH_LIMITED = { error: 'invalid_request', error_description: 'too many failed client authentications from this address; try again later' }
const SIGN_IN_LIMITED = { error: 'invalid_request', error_description: 'too many failed sign-ins from this address; try again later' }
const WRONG_CREDENTIALS = { error: 'invalid_grant', error_description: 'wrong username or password' }
const USER_THROTTLED = { error: 'invalid_grant', error_description: 'too many failed sign-ins; try again later' }

async function setup(t: Test, env: Record<string, string> = {}, lines?: string[]) {
  const ctx = await buildTestApp(t, { env, ...(lines ? { logger: { level: 'warn', stream: logLines(lines) } } : {}) })
  await createUser(ctx, 'alice')
  await createUser(ctx, 'bob')
  // The login page (authorization_code), the password grant and client credentials, one client.
  const client = await createClient(ctx, { grants: ['authorization_code', 'password', 'client_credentials'] })
  const secret = client.client_secret as string
  const token = (form: Record<string, string>, ip: string, authorization = basic(client.client_id, secret)) =>
    ctx.app.inject({ method: 'POST', url: '/token', remoteAddress: ip, headers: { ...FORM, authorization }, payload: new URLSearchParams(form).toString() })
  const clientToken = (ip: string, authorization?: string) => token({ grant_type: 'client_credentials' }, ip, authorization)
  const passwordGrant = (username: string, password: string, ip: string) => token({ grant_type: 'password', username, password }, ip)
  const failures = async (key: string) => (await ctx.repos.failureCounters.find(key, ctx.clock.now()))?.failures
  return { ctx, client, secret, clientToken, passwordGrant, failures }
}

/** A login page for a fresh transaction, as a browser at `ip` gets it. */
async function loginPage(ctx: TestApp, client: { client_id: string; redirectUri: string }, ip: string) {
  const browser = new Browser(ctx.app)
  const page = await browser.request({ method: 'GET', url: codeRequest(client).url, remoteAddress: ip })
  const signIn = (username: string, password: string, from: LightMyRequestResponse = page) =>
    browser.request({
      method: 'POST',
      url: '/authorize/login',
      remoteAddress: ip,
      headers: FORM,
      payload: new URLSearchParams({ ...hiddenInputs(from.body, '/authorize/login'), username, password }).toString(),
    })
  return { page, signIn }
}

function assertJson429(t: Test, res: LightMyRequestResponse, body: object, retryAfterSeconds: number, what: string) {
  t.equal(res.statusCode, 429, what)
  t.same(res.json(), body, what)
  t.equal(res.headers['retry-after'], String(retryAfterSeconds), `${what}: Retry-After`)
  t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`)
  t.notOk(res.headers['www-authenticate'], `${what}: not a 401 challenge`)
}

eachDialect(t, (t) => {
  t.test('successful client authentications are never counted nor refused', async (t) => {
    const { ctx, clientToken } = await setup(t, { LIMIT_CLIENT_AUTH_FAILURES: '1' })
    for (let i = 0; i < 50; i++) t.equal((await clientToken(ATTACKER)).statusCode, 200, `request ${i + 1}`)
    t.same(await ctx.store.db.selectFrom('failure_counters').selectAll().execute(), [], 'nothing written')
  })

  t.test('failed client authentications from one address reach 429 after the limit; the right secret still gets 200', async (t) => {
    const { ctx, client, clientToken, failures } = await setup(t)
    const wrong = basic(client.client_id, 'guess')
    for (let i = 0; i < 20; i++) {
      const res = await clientToken(ATTACKER, wrong)
      t.equal(res.statusCode, 401, `failure ${i + 1} of the default 20 is 401`)
    }
    assertJson429(t, await clientToken(ATTACKER, wrong), CLIENT_AUTH_LIMITED, 900, 'the 21st failure')
    t.equal((await clientToken(ATTACKER)).statusCode, 200, 'the right secret from the same address')
    t.equal((await clientToken(ELSEWHERE, wrong)).statusCode, 401, 'another address is counted apart')
    t.equal((await clientToken(ATTACKER, basic('lk_other', 'guess'))).statusCode, 401, 'another client_id is counted apart')
    t.equal(await failures(clientAuthKey(client.client_id, ATTACKER)), 21)
    ctx.clock.advance(600)
    assertJson429(t, await clientToken(ATTACKER, wrong), CLIENT_AUTH_LIMITED, 300, 'ten minutes later')
    ctx.clock.advance(300)
    t.equal((await clientToken(ATTACKER, wrong)).statusCode, 401, 'the count lapsed 15 minutes after the first failure')
  })

  t.test('every kind of failed client authentication counts; other errors do not', async (t) => {
    const { ctx, client, secret } = await setup(t, { LIMIT_CLIENT_AUTH_FAILURES: '1' })
    const post = (url: string, headers: Record<string, string>, form: Record<string, string>, ip: string) =>
      ctx.app.inject({ method: 'POST', url, remoteAddress: ip, headers: { ...FORM, ...headers }, payload: new URLSearchParams(form).toString() })
    const kinds: Array<[string, Record<string, string>, Record<string, string>]> = [
      ['unknown client_id', { authorization: basic('lk_nobody', 'x') }, {}],
      ['wrong secret in the body', {}, { client_id: client.client_id, client_secret: 'guess' }],
      ['missing secret for a confidential client', {}, { client_id: client.client_id }],
      ['malformed Basic', { authorization: 'Basic !!!' }, {}],
    ]
    for (const [i, [what, headers, form]] of kinds.entries()) {
      const ip = `198.51.100.${i + 1}`
      for (const url of ['/token', '/revoke', '/introspect']) {
        const body = { grant_type: 'client_credentials', token: 'x', ...form }
        const res = await post(url, headers, body, ip)
        if (url === '/token') t.equal(res.statusCode, 401, `${what}: first failure at ${url}`)
        else assertJson429(t, res, CLIENT_AUTH_LIMITED, 900, `${what}: at ${url}, sharing the count of /token`)
      }
    }
    const duplicate = await post('/token', { authorization: basic(client.client_id, secret) }, { grant_type: 'client_credentials', client_secret: secret }, ELSEWHERE)
    t.equal(duplicate.statusCode, 400, 'two authentication methods are a malformed request')
    const unsupported = await post('/token', { authorization: basic(client.client_id, secret) }, { grant_type: 'nope' }, ELSEWHERE)
    t.equal(unsupported.statusCode, 400)
    t.equal((await post('/token', { authorization: basic(client.client_id, 'guess') }, { grant_type: 'client_credentials' }, ELSEWHERE)).statusCode, 401, 'neither counted')
  })

  t.test('failed client authentications are recorded up to the first refusal of a window, with ids only', async (t) => {
    const lines: string[] = []
    const { client, clientToken } = await setup(t, { LIMIT_CLIENT_AUTH_FAILURES: '2' }, lines)
    const guess = 'a-guessed-secret-9f1c'
    for (let i = 0; i < 5; i++) await clientToken(ATTACKER, basic(client.client_id, guess))
    const events = lines.map((line) => JSON.parse(line)).filter((line) => line.event === 'client_auth_failed')
    t.same(events.map((e) => e.throttled), [false, false, true], 'each failure up to the limit, then the first refusal; nothing more')
    t.match(events[2], { level: 30, audit: true, event: 'client_auth_failed', clientId: client.client_id, ip: ATTACKER, throttled: true })
    t.notMatch(lines.join('\n'), new RegExp(guess), 'the presented secret is not logged')
    await clientToken(ATTACKER, basic('not-a-client-id-but-a-secret', guess))
    await clientToken(ATTACKER, basic('not-a-client-id-but-a-secret', guess))
    await clientToken(ATTACKER, basic('not-a-client-id-but-a-secret', guess))
    t.notMatch(lines.join('\n'), /not-a-client-id/, 'a client_id of any other shape is not logged')
  })

  t.test('attacker and bystander: 30 wrong passwords for one account, then another user on the same address signs in at once', async (t) => {
    const { ctx, client, passwordGrant } = await setup(t)
    // The login page.
    const attacker = await loginPage(ctx, client, ATTACKER)
    const answers = []
    let page = attacker.page
    for (let i = 0; i < 30; i++) {
      page = await attacker.signIn('alice', `wrong password ${i}`, page)
      answers.push(page.statusCode)
    }
    t.same(answers, [...Array(5).fill(401), ...Array(25).fill(429)], 'the guesser is locked out of that account after 5')
    t.equal(page.headers['retry-after'], '60', 'the lockout says when it ends')
    const bystander = await loginPage(ctx, client, ATTACKER)
    const signedIn = await bystander.signIn('bob', PASSWORD)
    t.equal(signedIn.statusCode, 200, 'bob signs in from the same address')
    t.match(signedIn.body, /value="allow"/, 'on to the consent page')

    // The password grant.
    const grants = []
    for (let i = 0; i < 30; i++) grants.push((await passwordGrant('alice', `wrong password ${i}`, '203.0.113.50')).json())
    t.same(grants, [...Array(5).fill(WRONG_CREDENTIALS), ...Array(25).fill(USER_THROTTLED)])
    t.equal((await passwordGrant('bob', PASSWORD, '203.0.113.50')).statusCode, 200, 'bob gets tokens from the same address')
  })

  t.test('past the limit of failed sign-ins every sign-in from the address is refused until the window ends', async (t) => {
    const { ctx, client, passwordGrant, failures } = await setup(t)
    // 100 failures (the default), 4 per username so that no username locks.
    for (let i = 0; i < 100; i++) {
      const res = await passwordGrant(`user${Math.floor(i / 4)}`, 'wrong', ATTACKER)
      if (res.statusCode !== 400) t.fail(`failure ${i + 1}: ${res.statusCode}`)
    }
    t.equal(await failures(signInAddressKey(ATTACKER)), 100)
    assertJson429(t, await passwordGrant('bob', PASSWORD, ATTACKER), SIGN_IN_LIMITED, 900, 'the right password from that address')
    t.equal(await ctx.repos.loginAttempts.find(usernameKey('bob')), undefined, 'refused before the username was counted or checked')

    const refused = await (await loginPage(ctx, client, ATTACKER)).signIn('bob', PASSWORD)
    t.equal(refused.statusCode, 429, 'the login page too')
    t.match(refused.headers['content-type'], /text\/html/)
    t.match(refused.body, /Too many failed sign-ins from your network; try again in 15 minutes\./)
    t.match(refused.body, /name="password"/, 'the form is shown again')
    t.equal(refused.headers['retry-after'], '900')
    t.equal(refused.headers['cache-control'], 'no-store')

    t.equal((await passwordGrant('bob', PASSWORD, ELSEWHERE)).statusCode, 200, 'another address is unaffected')
    t.equal((await passwordGrant('bob', PASSWORD, '::ffff:' + ELSEWHERE)).statusCode, 200)
    ctx.clock.advance(14 * 60)
    assertJson429(t, await passwordGrant('bob', PASSWORD, ATTACKER), SIGN_IN_LIMITED, 60, 'a minute before the end')
    ctx.clock.advance(60)
    t.equal((await passwordGrant('bob', PASSWORD, ATTACKER)).statusCode, 200, 'the window passed')
  })

  t.test('successes and per-username refusals do not count against the address', async (t) => {
    const { ctx, client, passwordGrant, failures } = await setup(t, { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '6' })
    for (let i = 0; i < 5; i++) await passwordGrant('alice', 'wrong', ATTACKER)
    t.same((await passwordGrant('alice', PASSWORD, ATTACKER)).json(), USER_THROTTLED, 'alice is locked from this address')
    t.same((await passwordGrant('alice', PASSWORD, ATTACKER)).json(), USER_THROTTLED)
    t.equal(await failures(signInAddressKey(ATTACKER)), 5, 'the refusals were taken back')
    for (let i = 0; i < 3; i++) t.equal((await passwordGrant('bob', PASSWORD, ATTACKER)).statusCode, 200)
    const { signIn } = await loginPage(ctx, client, ATTACKER)
    t.equal((await signIn('bob', PASSWORD)).statusCode, 200)
    t.equal(await failures(signInAddressKey(ATTACKER)), 5, 'so were the successes, which wipe nothing either')
    t.same((await passwordGrant('bob', 'wrong', ATTACKER)).json(), WRONG_CREDENTIALS, 'the sixth failure is checked')
    t.equal((await passwordGrant('bob', PASSWORD, ATTACKER)).statusCode, 429, 'and the next sign-in is refused')
  })

  t.test('the first sign-in refusal of a window is recorded once', async (t) => {
    const lines: string[] = []
    const { passwordGrant } = await setup(t, { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '2' }, lines)
    await passwordGrant('alice', 'wrong password one', ATTACKER)
    await passwordGrant('bob', 'wrong password two', ATTACKER)
    for (let i = 0; i < 3; i++) t.equal((await passwordGrant('bob', PASSWORD, ATTACKER)).statusCode, 429)
    const events = lines.map((line) => JSON.parse(line)).filter((line) => line.event === 'signin_throttled')
    t.equal(events.length, 1)
    t.match(events[0], { level: 30, audit: true, event: 'signin_throttled', limit: 'address', via: 'password_grant', ip: ATTACKER, retryAfterSeconds: 900 })
    t.notMatch(lines.join('\n'), /alice|bob|wrong password|correct horse/, 'no username or password')
  })

  t.test('invented client_ids share one count per address: no row per guess', async (t) => {
    const ctx = await buildTestApp(t)
    for (let i = 0; i < 5; i++) t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(`lk_invented${i}`, 'x') })).statusCode, 401)
    const rows = await ctx.store.db.selectFrom('failure_counters').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
    t.equal(Number(rows.n), 1, 'one counter for the address, however many client_ids were tried')
  })
})
