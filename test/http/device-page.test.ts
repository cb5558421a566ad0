import t, { type Test } from 'tap'
import { MAX_USER_CODE_FAILURES } from '../../src/authorization/device.js'
import { buildTestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { createDeviceClient, decideOnDevicePage, enterUserCode, poll, startDevice } from '../helpers/device.js'
import { codeRequest, createClient, createUser, decide, PASSWORD, signIn } from '../helpers/oauth.js'

async function setup(t: Test) {
  const ctx = await buildTestApp(t)
  const user = await createUser(ctx)
  const client = await createDeviceClient(ctx, { scope: 'openid profile' })
  return { ctx, user, client }
}

function assertPageHeaders(t: Test, res: { headers: Record<string, unknown> }) {
  t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.equal(res.headers['referrer-policy'], 'no-referrer')
  t.equal(res.headers['cache-control'], 'no-store')
}

eachDialect(t, (t) => {
  t.test('the code form, then sign-in, then a consent page that says a device asks, with the client and scopes', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    const form = await browser.get('/device')
    t.equal(form.statusCode, 200)
    assertPageHeaders(t, form)
    t.match(form.body, 'action="/device"')
    t.match(form.body, 'name="csrf_token"')
    t.notMatch(form.body, /<script|style=/, 'no inline script or style')
    t.ok(browser.cookies.has('lk_browser'), 'the CSRF token is bound to the browser cookie')

    // Lower case, spaces instead of the hyphen: the same code.
    const typed = started.user_code.toLowerCase().replace('-', ' ')
    const login = await browser.post('/device', { ...hiddenInputs(form.body, '/device'), user_code: typed })
    t.equal(login.statusCode, 200)
    assertPageHeaders(t, login)
    t.match(login.body, 'name="password"')
    t.match(login.body, 'Living-room TV')

    const consent = await signIn(browser, login)
    t.equal(consent.statusCode, 200)
    t.match(consent.body, 'action="/authorize/consent"')
    t.match(consent.body, /<strong><bdi>Living-room TV<\/bdi><\/strong> is asking from a device/)
    t.match(consent.body, 'See your name and username', 'the scopes asked for')
    t.notMatch(consent.body, 'you then go back to', 'no redirect target to name')
    t.notMatch(consent.body, 'remembers it', 'a device consent is never remembered')

    const done = await decide(browser, consent, 'allow')
    t.equal(done.statusCode, 200)
    assertPageHeaders(t, done)
    t.match(done.body, 'You may return to your device')
    t.notOk(done.headers.location, 'no redirect')
    t.equal((await poll(ctx, client, started.device_code)).statusCode, 200)

    // The consent is not remembered, and was not needed: a second device still asks.
    const second = await startDevice(ctx, client)
    const again = await enterUserCode(browser, second.user_code)
    t.match(again.body, 'action="/authorize/consent"', 'signed in already: straight to consent, shown again')
  })

  t.test("a remembered consent from the code flow does not skip the device's consent page", async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { grants: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid' })
    const browser = new Browser(ctx.app)
    const { url } = codeRequest(client, { scope: 'openid' })
    const consent = await signIn(browser, await browser.get(url))
    t.equal((await decide(browser, consent, 'allow')).statusCode, 303, 'consent given, and remembered for the code flow')
    const skipped = await browser.get(codeRequest(client, { scope: 'openid' }).url)
    t.equal(skipped.statusCode, 302, 'the code flow now skips it')
    const auth = { form: {}, headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret as string}`).toString('base64')}` } }
    const started = await startDevice(ctx, { ...client, auth }, { scope: 'openid' })
    const page = await enterUserCode(browser, started.user_code)
    t.match(page.body, 'action="/authorize/consent"')
    t.match(page.body, 'is asking from a device')
  })

  t.test('verification_uri_complete only fills the code in', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    const page = await browser.get(started.verification_uri_complete.replace('http://localhost:3000', ''))
    t.equal(page.statusCode, 200)
    t.match(page.body, `value="${started.user_code}"`)
    t.match(page.body, 'Check that this code is the one your device shows')
    t.match(page.body, 'action="/device"', 'a form to submit, nothing approved')
    const state = await ctx.store.db.selectFrom('device_authorizations').select('status').executeTakeFirstOrThrow()
    t.equal(state.status, 'pending')
    t.equal((await ctx.store.db.selectFrom('authorization_transactions').select('id').execute()).length, 0, 'no transaction either')
  })

  t.test('a wrong user code: the form again, 400, nothing opened', async (t) => {
    const { ctx, client } = await setup(t)
    await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    for (const wrong of ['BCDF-GHJK', 'AAAA-AAAA', 'short', '']) {
      const page = await enterUserCode(browser, wrong)
      t.equal(page.statusCode, 400, wrong)
      t.match(page.body, 'This code is not valid')
      t.match(page.body, 'aria-invalid="true"')
    }
    t.equal((await ctx.store.db.selectFrom('authorization_transactions').select('id').execute()).length, 0)
  })

  t.test('wrong codes are limited per address: 429 with Retry-After, even for the right code', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    for (let i = 0; i < MAX_USER_CODE_FAILURES; i++) {
      // A fresh browser each time: the address counts whatever cookies it drops.
      t.equal((await enterUserCode(new Browser(ctx.app), 'BCDF-GHJK')).statusCode, 400)
    }
    const refused = await enterUserCode(new Browser(ctx.app), started.user_code)
    t.equal(refused.statusCode, 429)
    t.equal(refused.headers['retry-after'], '900')
    t.match(refused.body, 'Too many wrong codes')
    ctx.clock.advance(900)
    const fresh = await startDevice(ctx, client)
    t.match((await enterUserCode(new Browser(ctx.app), fresh.user_code)).body, 'name="password"', 'the window over, the right code works')
  })

  t.test('wrong codes are limited per browser too', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    for (let i = 0; i < MAX_USER_CODE_FAILURES; i++) {
      const res = await browser.request({
        method: 'POST',
        url: '/device',
        // A new address each time (as behind TRUST_PROXY): the browser cookie still counts.
        remoteAddress: `198.51.100.${i + 1}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ ...hiddenInputs((await browser.get('/device')).body, '/device'), user_code: 'BCDF-GHJK' }).toString(),
      })
      t.equal(res.statusCode, 400)
    }
    const form = await browser.get('/device')
    const refused = await browser.request({
      method: 'POST',
      url: '/device',
      remoteAddress: '203.0.113.9',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...hiddenInputs(form.body, '/device'), user_code: started.user_code }).toString(),
    })
    t.equal(refused.statusCode, 429)
  })

  t.test('the code form is CSRF-protected: no cookie, or a token of another browser, is 403', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const victim = new Browser(ctx.app)
    await victim.get('/device')
    const attacker = new Browser(ctx.app)
    const attackerForm = hiddenInputs((await attacker.get('/device')).body, '/device')
    const forged = await victim.post('/device', { ...attackerForm, user_code: started.user_code })
    t.equal(forged.statusCode, 403)
    t.match(forged.body, 'did not come from the browser tab')
    assertPageHeaders(t, forged)
    const cookieless = await new Browser(ctx.app).post('/device', { ...attackerForm, user_code: started.user_code })
    t.equal(cookieless.statusCode, 403)
    const tokenless = await victim.post('/device', { user_code: started.user_code })
    t.equal(tokenless.statusCode, 403)
  })

  t.test('a code already decided, or expired, is not valid any more', async (t) => {
    const { ctx, client } = await setup(t)
    const decided = await startDevice(ctx, client)
    await decideOnDevicePage(ctx, decided.user_code, 'deny')
    t.equal((await enterUserCode(new Browser(ctx.app), decided.user_code)).statusCode, 400)
    const expiring = await startDevice(ctx, client)
    ctx.clock.advance(600)
    t.equal((await enterUserCode(new Browser(ctx.app), expiring.user_code)).statusCode, 400)
  })

  t.test('a code that expires while the consent page is open: an error page, and the device gets expired_token', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    ctx.clock.advance(300)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await enterUserCode(browser, started.user_code))
    ctx.clock.advance(300)
    const late = await decide(browser, consent, 'allow')
    t.equal(late.statusCode, 400)
    t.match(late.body, 'has expired')
    const res = await poll(ctx, client, started.device_code)
    t.equal(res.json().error, 'expired_token')
  })

  t.test('the consent page cannot be answered twice, nor from another tab after a decision', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    const first = await signIn(browser, await enterUserCode(browser, started.user_code))
    const second = await enterUserCode(browser, started.user_code)
    t.match(second.body, 'action="/authorize/consent"', 'a second tab while the first is open')
    t.equal((await decide(browser, first, 'allow')).statusCode, 200)
    const other = await decide(browser, second, 'deny')
    t.equal(other.statusCode, 400, 'already approved: the denial is refused')
    t.equal((await decide(browser, first, 'deny')).statusCode, 400, 'the same form again')
    t.equal((await poll(ctx, client, started.device_code)).statusCode, 200, 'the approval stands')
  })

  t.test('German pages', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const browser = new Browser(ctx.app)
    const form = await browser.request({ method: 'GET', url: '/device', headers: { 'accept-language': 'de' } })
    t.match(form.body, 'Gerät verbinden')
    t.equal(form.headers['content-language'], 'de')
    const login = await browser.request({
      method: 'POST',
      url: '/device',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'de' },
      payload: new URLSearchParams({ ...hiddenInputs(form.body, '/device'), user_code: started.user_code }).toString(),
    })
    const consent = await browser.request({
      method: 'POST',
      url: '/authorize/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'de' },
      payload: new URLSearchParams({ ...hiddenInputs(login.body, '/authorize/login'), username: 'alice', password: PASSWORD }).toString(),
    })
    t.match(consent.body, 'fragt von einem Gerät aus')
    const done = await browser.request({
      method: 'POST',
      url: '/authorize/consent',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'de' },
      payload: new URLSearchParams({ ...hiddenInputs(consent.body, '/authorize/consent'), decision: 'deny' }).toString(),
    })
    t.match(done.body, 'Zugriff verweigert')
  })
})

t.test('an error page under /device speaks of the code page, not of an app that sent the person', async (t) => {
  const ctx = await buildTestApp(t)
  for (const [language, text] of [
    ['en', 'could not accept what this code page sent'],
    ['de', 'konnte nicht annehmen, was diese Code-Seite gesendet hat'],
  ] as const) {
    const res = await ctx.app.inject({ method: 'POST', url: '/device', headers: { 'content-type': 'text/plain', 'accept-language': language }, payload: 'user_code=BCDF-GHJK' })
    t.equal(res.statusCode, 400)
    t.match(res.headers['content-type'], /^text\/html/)
    t.match(res.body, text)
    t.notMatch(res.body, /sent you here|hierher geschickt/)
  }
})
