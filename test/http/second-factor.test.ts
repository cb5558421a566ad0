import t from 'tap'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { createDeviceClient, enterUserCode, poll, startDevice } from '../helpers/device.js'
import { eachDialect } from '../helpers/db.js'
import { codeNow, enrolTotp, mfaApp, sendCode, sessionAmr, shownSecret } from '../helpers/mfa.js'
import { basic, codeRequest, createUser, decide, exchange, PASSWORD, redirectParams, signIn, verifyAccessToken } from '../helpers/oauth.js'

eachDialect(t, (t) => {
  t.test('a user with an authenticator app: the password leads to the code page, and no session before the code', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    t.equal(page.statusCode, 200)
    t.equal(page.headers['x-frame-options'], 'DENY')
    t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
    t.match(page.body, /<form method="post" action="\/authorize\/second-factor">/)
    t.match(page.body, /<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code"/)
    t.match(page.body, /<label for="code">/)
    t.match(page.body, /Use a recovery code instead/)
    t.notOk(browser.cookies.has('lk_session'), 'no login session yet')
    t.same(await sessionAmr(ctx), [], 'none stored')
    const tx = await ctx.store.db.selectFrom('authorization_transactions').select(['user_id', 'pending_user_id']).executeTakeFirstOrThrow()
    t.same(tx, { user_id: null, pending_user_id: user.id }, 'the user is pending, not signed in')
  })

  t.test('the right code signs in with amr pwd otp mfa and goes on to consent and the code', async (t) => {
    const { ctx, user, client, audit } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const request = codeRequest(client, { scope: 'openid' })
    const page = await signIn(browser, await browser.get(request.url))
    const consent = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(consent.statusCode, 200)
    t.match(consent.body, /action="\/authorize\/consent"/)
    t.ok(browser.cookies.has('lk_session'))
    t.same(await sessionAmr(ctx), [['pwd', 'otp', 'mfa']])
    const done = await decide(browser, consent, 'allow')
    t.equal(done.statusCode, 303)
    const code = redirectParams(done).get('code') as string
    t.notOk(audit().some((e) => e.event === 'mfa_failed'))
    // The tokens say how the user signed in (RFC 8176).
    const tokens = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: request.pkce.verifier }, { authorization: basic(client.client_id, client.client_secret as string) })
    t.equal(tokens.statusCode, 200)
    const { payload } = await verifyAccessToken(ctx, (tokens.json() as { access_token: string }).access_token)
    t.same(payload.amr, ['pwd', 'otp', 'mfa'])
    t.equal(payload.acr, 'urn:latchkey:acr:mfa')
  })

  t.test('a wrong code shows the page again with 401 and an alert, and is audited as mfa_failed', async (t) => {
    const { ctx, user, client, audit, lines } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const right = codeNow(ctx, secret)
    const wrong = right === '000000' ? '111111' : '000000'
    const again = await sendCode(browser, page, wrong)
    t.equal(again.statusCode, 401)
    t.match(again.body, /<p class="alert" role="alert" id="mfa-error">/)
    t.match(again.body, /aria-describedby="code-hint mfa-error" aria-invalid="true"/)
    t.notOk(browser.cookies.has('lk_session'))
    t.match(audit().filter((e) => e.event === 'mfa_failed'), [{ userId: user.id, method: 'totp' }])
    t.notOk(lines.join('\n').includes(`"${wrong}"`), 'the code is never logged')
    // The transaction stays usable.
    const ok = await sendCode(browser, again, right)
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /action="\/authorize\/consent"/)
  })

  t.test('a code already used is refused (RFC 6238 §5.2), even in another browser', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const first = new Browser(ctx.app)
    const code = codeNow(ctx, secret)
    const ok = await sendCode(first, await signIn(first, await first.get(codeRequest(client).url)), code)
    t.match(ok.body, /action="\/authorize\/consent"/)
    const second = new Browser(ctx.app)
    const replay = await sendCode(second, await signIn(second, await second.get(codeRequest(client).url)), code)
    t.equal(replay.statusCode, 401)
    t.notOk(second.cookies.has('lk_session'))
    // The next time step's code is fine.
    ctx.clock.advance(30)
    const next = await sendCode(second, replay, codeNow(ctx, secret))
    t.equal(next.statusCode, 200)
  })

  t.test('a recovery code works once: the user is told how many are left, and a second use is refused', async (t) => {
    const { ctx, user, client, audit, lines } = await mfaApp(t)
    const { recoveryCodes } = await enrolTotp(ctx, user)
    const recovery = recoveryCodes[0] as string
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const used = await sendCode(browser, page, recovery.toUpperCase(), 'recovery')
    t.equal(used.statusCode, 200)
    t.match(used.body, /You have <strong>9<\/strong> recovery codes left|You have 9 recovery codes left/)
    t.match(used.body, /<form method="post" action="\/authorize\/continue">/)
    t.same(await sessionAmr(ctx), [['pwd', 'otp', 'mfa']])
    t.match(audit().filter((e) => e.event === 'recovery_code_used'), [{ userId: user.id, left: 9 }])
    const consent = await browser.post('/authorize/continue', hiddenInputs(used.body, '/authorize/continue'))
    t.equal(consent.statusCode, 200)
    t.match(consent.body, /action="\/authorize\/consent"/)

    const other = new Browser(ctx.app)
    const again = await sendCode(other, await signIn(other, await other.get(codeRequest(client).url)), recovery, 'recovery')
    t.equal(again.statusCode, 401)
    t.match(again.body, /That recovery code is not right, or it was already used/)
    t.match(again.body, /<details class="recovery" open>/, 'the recovery form stays open')
    t.match(audit().filter((e) => e.event === 'mfa_failed'), [{ userId: user.id, method: 'recovery_code' }])
    t.notOk(lines.join('\n').includes(recovery), 'never logged')
  })

  t.test('wrong codes count against the login throttle: once locked, even the right code is refused with 429', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    let page = await signIn(browser, await browser.get(codeRequest(client).url))
    const wrong = codeNow(ctx, secret) === '000000' ? '111111' : '000000'
    // The right password counts as one attempt until the whole sign-in succeeds: 1 + 4 wrong codes lock.
    for (let i = 0; i < 4; i++) {
      page = await sendCode(browser, page, wrong)
      t.equal(page.statusCode, 401, `failure ${i + 1}`)
    }
    const locked = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(locked.statusCode, 429)
    t.match(locked.headers['retry-after'], /^\d+$/)
    t.match(locked.body, /Too many failed attempts/)
    t.notOk(browser.cookies.has('lk_session'))
    // The password is locked too: the code and the password share the count.
    const other = new Browser(ctx.app)
    const login = await signIn(other, await other.get(codeRequest(client).url))
    t.equal(login.statusCode, 429)
    ctx.clock.advance(61)
    const after = await sendCode(browser, locked, codeNow(ctx, secret))
    t.equal(after.statusCode, 200, 'after the lock, the right code works')
  })

  t.test('the per-address limit refuses codes with 429 too', async (t) => {
    const { ctx, user, client } = await mfaApp(t, { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '2' })
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    let page = await signIn(browser, await browser.get(codeRequest(client).url))
    const wrong = codeNow(ctx, secret) === '000000' ? '111111' : '000000'
    page = await sendCode(browser, page, wrong)
    page = await sendCode(browser, page, wrong)
    const limited = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(limited.statusCode, 429)
    t.ok(limited.headers['retry-after'])
    t.match(limited.body, /from your network/)
  })

  t.test('the code form is bound to the browser and its CSRF token (403), and expires with the transaction', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const fields = hiddenInputs(page.body, '/authorize/second-factor')
    const forged = await browser.post('/authorize/second-factor', { ...fields, csrf_token: 'x'.repeat(43), code: codeNow(ctx, secret) })
    t.equal(forged.statusCode, 403)
    const attacker = new Browser(ctx.app)
    await attacker.get(codeRequest(client).url)
    t.equal((await attacker.post('/authorize/second-factor', { ...fields, code: codeNow(ctx, secret) })).statusCode, 403)
    for (const path of ['/authorize/enrol', '/authorize/continue']) {
      t.equal((await attacker.post(path, { ...fields, step: 'confirm', code: '123456' })).statusCode, 403, path)
    }
    t.notOk(browser.cookies.has('lk_session'))
    ctx.clock.advance(11 * 60)
    const expired = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(expired.statusCode, 400)
    t.match(expired.body, /took too long and has expired/)
  })

  t.test('a code posted before the password asks for the password again', async (t) => {
    const { ctx, client } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client).url)
    const res = await browser.post('/authorize/second-factor', { ...hiddenInputs(login.body), code: '123456' })
    t.equal(res.statusCode, 400)
    t.match(res.body, /action="\/authorize\/login"/)
    t.match(res.body, /Please sign in again/)
    const continued = await browser.post('/authorize/continue', hiddenInputs(login.body))
    t.equal(continued.statusCode, 400, 'nothing to continue')
  })

  t.test('"use another account" on the code page forgets the pending user', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    await enrolTotp(ctx, user)
    await createUser(ctx, 'bob')
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const switched = await browser.post('/authorize/login', { ...hiddenInputs(page.body, '/authorize/login'), action: 'switch' })
    t.equal(switched.statusCode, 200)
    t.match(switched.body, /name="password"/)
    const tx = await ctx.store.db.selectFrom('authorization_transactions').select(['user_id', 'pending_user_id']).executeTakeFirstOrThrow()
    t.same(tx, { user_id: null, pending_user_id: null })
    const bob = await signIn(browser, switched, 'bob')
    t.match(bob.body, /action="\/authorize\/consent"/, 'bob has no factor: straight on')
    t.same(await sessionAmr(ctx), [['pwd']])
  })

  t.test('MFA_REQUIRED=off: a user with an app signs in with the password alone', async (t) => {
    const { ctx, user, client } = await mfaApp(t, { MFA_REQUIRED: 'off' })
    await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(client).url))
    t.match(consent.body, /action="\/authorize\/consent"/)
    t.same(await sessionAmr(ctx), [['pwd']])
  })

  t.test('MFA_REQUIRED=all and no factor: sent to enrol (QR, key, first code), then recovery codes once, then consent', async (t) => {
    const { ctx, user, client, audit, lines } = await mfaApp(t, { MFA_REQUIRED: 'all' })
    const browser = new Browser(ctx.app)
    const enrol = await signIn(browser, await browser.get(codeRequest(client).url))
    t.equal(enrol.statusCode, 200)
    t.match(enrol.body, /<form method="post" action="\/authorize\/enrol">/)
    t.match(enrol.body, /<div class="qr" role="img" aria-label="[^"]+"><svg aria-hidden="true" focusable="false" xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    t.notMatch(enrol.body, /style=/, 'no inline style (CSP)')
    t.notMatch(enrol.body, /<script(?! src="\/assets\/(webauthn|passkeys)\.js\?v=)/, 'no script but latchkey\'s passkey files')
    t.match(enrol.headers['content-security-policy'], /default-src 'self'/)
    t.match(enrol.body, /<p class="secret"><code>([A-Z2-7]{4} )+[A-Z2-7]{1,4}<\/code><\/p>/, 'the key in groups of four')
    t.notOk(browser.cookies.has('lk_session'))
    const secret = shownSecret(enrol)

    const wrong = await browser.post('/authorize/enrol', { ...hiddenInputs(enrol.body, '/authorize/enrol'), code: codeNow(ctx, secret) === '000000' ? '111111' : '000000' })
    t.equal(wrong.statusCode, 400)
    t.match(wrong.body, /role="alert" id="enrol-error"/)
    t.notMatch(wrong.body, /class="qr"/, 'the key is not shown again')
    t.match(wrong.body, /Start again with a new key/)

    const codes = await browser.post('/authorize/enrol', { ...hiddenInputs(wrong.body, '/authorize/enrol'), code: codeNow(ctx, secret) })
    t.equal(codes.statusCode, 200)
    const shown = [...codes.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1])
    t.equal(shown.length, 10, 'ten recovery codes')
    t.match(codes.body, /<form method="post" action="\/authorize\/continue">/)
    t.same(await sessionAmr(ctx), [['pwd', 'otp', 'mfa']])
    t.match(audit().filter((e) => e.event === 'mfa_enrolled'), [{ userId: user.id, method: 'totp' }])
    t.notOk(lines.join('\n').includes(secret), 'the secret is never logged')
    for (const code of shown) t.notOk(lines.join('\n').includes(code as string), 'nor a recovery code')

    const consent = await browser.post('/authorize/continue', hiddenInputs(codes.body, '/authorize/continue'))
    t.match(consent.body, /action="\/authorize\/consent"/)
    const done = await decide(browser, consent, 'allow')
    t.ok(redirectParams(done).get('code'))
    // The continue form is used up with the transaction.
    t.equal((await browser.post('/authorize/continue', hiddenInputs(codes.body, '/authorize/continue'))).statusCode, 400)
  })

  t.test('restarting an enrolment shows a new key; the old one no longer confirms', async (t) => {
    const { ctx, client } = await mfaApp(t, { MFA_REQUIRED: 'all' })
    const browser = new Browser(ctx.app)
    const enrol = await signIn(browser, await browser.get(codeRequest(client).url))
    const first = shownSecret(enrol)
    const restarted = await browser.post('/authorize/enrol', { ...hiddenInputs(enrol.body, '/authorize/enrol'), step: 'begin' })
    const second = shownSecret(restarted)
    t.not(second, first)
    const old = await browser.post('/authorize/enrol', { ...hiddenInputs(restarted.body, '/authorize/enrol'), code: codeNow(ctx, first) })
    t.equal(old.statusCode, codeNow(ctx, first) === codeNow(ctx, second) ? 200 : 400)
  })

  t.test('a client with --require-mfa sends a user without a factor to enrol', async (t) => {
    const { ctx, client } = await mfaApp(t)
    await ctx.store.db.updateTable('clients').set({ require_mfa: 1 }).where('id', '=', client.client_id).execute()
    const browser = new Browser(ctx.app)
    const enrol = await signIn(browser, await browser.get(codeRequest(client).url))
    t.match(enrol.body, /action="\/authorize\/enrol"/)
    t.notOk(browser.cookies.has('lk_session'))
  })

  t.test('a pending user who has a factor cannot enrol another one with the password alone', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const res = await browser.post('/authorize/enrol', { ...hiddenInputs(page.body, '/authorize/second-factor'), step: 'begin' })
    t.match(res.body, /action="\/authorize\/second-factor"/)
    t.notMatch(res.body, /class="qr"/)
    t.notOk(browser.cookies.has('lk_session'))
  })

  t.test('a disabled user cannot finish with the code', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    await ctx.store.db.updateTable('users').set({ disabled_at: ctx.clock.now() }).where('id', '=', user.id).execute()
    const res = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(res.statusCode, 400)
    t.match(res.body, /name="password"/)
    t.notOk(browser.cookies.has('lk_session'))
  })

  t.test('a device sign-in (RFC 8628) asks for the code too, then the device gets its tokens', async (t) => {
    const { ctx, user } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const device = await createDeviceClient(ctx)
    const started = await startDevice(ctx, device)
    const browser = new Browser(ctx.app)
    const login = await enterUserCode(browser, started.user_code)
    const codePage = await signIn(browser, login)
    t.match(codePage.body, /action="\/authorize\/second-factor"/)
    const consent = await sendCode(browser, codePage, codeNow(ctx, secret))
    t.match(consent.body, /action="\/authorize\/consent"/)
    const done = await decide(browser, consent, 'allow')
    t.equal(done.statusCode, 200)
    ctx.clock.advance(started.interval)
    const tokens = await poll(ctx, device, started.device_code)
    t.equal(tokens.statusCode, 200)
  })

  t.test('the pages are in German with ui_locales=de', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await browser.post('/authorize/login', {
      ...hiddenInputs((await browser.get(codeRequest(client, { ui_locales: 'de' }).url)).body),
      username: 'alice',
      password: PASSWORD,
    })
    t.match(page.body, /<html lang="de">/)
    t.match(page.body, /Code aus Ihrer Authenticator-App/)
  })
})
