import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeNow, enrolTotp, mfaApp, sendCode, sessionAmr, shownSecret } from '../helpers/mfa.js'
import { codeRequest, PASSWORD, signIn } from '../helpers/oauth.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { randomBytes } from 'node:crypto'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { testPasswords } from '../helpers/passwords.js'

/** The account page's sign-in: the login form posting to /account/login. */
function accountSignIn(browser: Browser, page: LightMyRequestResponse, username = 'alice', password = PASSWORD) {
  return browser.post('/account/login', { ...hiddenInputs(page.body, '/account/login'), username, password })
}

const csrfOf = (page: LightMyRequestResponse) => /name="csrf_token" value="([^"]+)"/.exec(page.body)?.[1] as string

eachDialect(t, (t) => {
  t.test('without a session the page asks to sign in (login form posting to /account/login), then comes back with 303', async (t) => {
    const { ctx } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    const login = await browser.get('/account/security')
    t.equal(login.statusCode, 200)
    t.equal(login.headers['x-frame-options'], 'DENY')
    t.equal(login.headers['cache-control'], 'no-store')
    t.match(login.body, /<form method="post" action="\/account\/login">/)
    t.match(login.body, /to manage your account&#39;s security|to manage your account's security/)
    t.equal((await ctx.store.db.selectFrom('account_sign_ins').selectAll().execute()).length, 1)
    const wrong = await accountSignIn(browser, login, 'alice', 'nope')
    t.equal(wrong.statusCode, 401)
    t.match(wrong.body, /role="alert" id="login-error"/)
    const done = await accountSignIn(browser, wrong)
    t.equal(done.statusCode, 303)
    t.equal(done.headers.location, '/account/security')
    const page = await browser.get('/account/security')
    t.equal(page.statusCode, 200)
    t.match(page.body, /Signed in as <strong>alice<\/strong>/)
    t.match(page.body, /<form method="post" action="\/account\/totp\/begin">/)
    t.match(page.body, /<section id="passkeys" aria-labelledby="passkeys-heading"/)
    t.match(page.body, /<a href="\/logout">Sign out<\/a>/)
    // The sign-in cannot be replayed.
    t.equal((await accountSignIn(browser, login)).statusCode, 400)
  })

  t.test('open account sign-ins are capped per address (429 with Retry-After, nothing stored)', async (t) => {
    const store = await dialectOf(t).open(t)
    const clock = new FakeClock()
    const app = await buildApp(loadConfig({ ISSUER: 'http://localhost:3000' }), {
      store, keys: await fixtureKeyStore(), clock, passwords: testPasswords, totpSecrets: keySecretBox(randomBytes(32)), maxOpenTransactionsPerAddress: 2,
    })
    t.teardown(() => app.close())
    t.equal((await new Browser(app).get('/account/security')).statusCode, 200)
    t.equal((await new Browser(app).get('/account/security')).statusCode, 200)
    const refused = await new Browser(app).get('/account/security')
    t.equal(refused.statusCode, 429)
    t.equal(refused.headers['retry-after'], '600')
    t.equal((await store.db.selectFrom('account_sign_ins').selectAll().execute()).length, 2)
    clock.advance(600)
    t.equal((await new Browser(app).get('/account/security')).statusCode, 200, 'expired ones no longer count')
  })

  t.test('the account sign-in form is bound to its browser (403) and expires', async (t) => {
    const { ctx } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    const login = await browser.get('/account/security')
    const attacker = new Browser(ctx.app)
    await attacker.get('/account/security')
    t.equal((await accountSignIn(attacker, login)).statusCode, 403)
    t.equal((await browser.post('/account/login', { ...hiddenInputs(login.body), csrf_token: 'x', username: 'alice', password: PASSWORD })).statusCode, 403)
    t.notOk(attacker.cookies.has('lk_session'))
    ctx.clock.advance(11 * 60)
    const expired = await accountSignIn(browser, login)
    t.equal(expired.statusCode, 400)
    t.match(expired.body, /expired/)
  })

  t.test('a user with an app signs in with the code too, and a session without it does not count', async (t) => {
    const { ctx, user, client } = await mfaApp(t, { MFA_REQUIRED: 'off' })
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    // MFA_REQUIRED=off: the app sign-in takes the password alone…
    await signIn(browser, await browser.get(codeRequest(client).url))
    t.same(await sessionAmr(ctx), [['pwd']])
    // …but managing factors needs the second one.
    const login = await browser.get('/account/security')
    t.match(login.body, /action="\/account\/login"/)
    t.match(login.body, /value="alice"/, 'the username is filled in')
    const codePage = await accountSignIn(browser, login)
    t.equal(codePage.statusCode, 200)
    t.match(codePage.body, /action="\/account\/second-factor"/)
    t.notMatch(codePage.body, /action="\/authorize\/login"/, 'no "use another account" here')
    const wrong = await sendCode(browser, codePage, codeNow(ctx, secret) === '000000' ? '111111' : '000000', 'totp', '/account')
    t.equal(wrong.statusCode, 401)
    const done = await sendCode(browser, wrong, codeNow(ctx, secret), 'totp', '/account')
    t.equal(done.statusCode, 303)
    t.equal(done.headers.location, '/account/security')
    const page = await browser.get('/account/security')
    t.match(page.body, /action="\/account\/totp\/remove"/)
    t.match(page.body, /<strong>10<\/strong> of 10 codes left|10 of 10 codes left/)
  })

  t.test('a session older than 15 minutes is asked to sign in again', async (t) => {
    const { ctx } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    await accountSignIn(browser, await browser.get('/account/security'))
    t.match((await browser.get('/account/security')).body, /action="\/account\/totp\/begin"/)
    const csrf = csrfOf(await browser.get('/account/security'))
    ctx.clock.advance(16 * 60)
    const stale = await browser.get('/account/security')
    t.match(stale.body, /action="\/account\/login"/)
    t.match(stale.body, /value="alice"/)
    // A form of the old page goes back to the page (which asks to sign in), changing nothing.
    const posted = await browser.post('/account/totp/begin', { csrf_token: csrf })
    t.equal(posted.statusCode, 303)
    t.equal(posted.headers.location, '/account/security')
    t.equal((await ctx.store.db.selectFrom('totp_factors').selectAll().execute()).length, 0)
  })

  t.test('setting up the app: QR and key, a first code, recovery codes once; the session now counts with two factors', async (t) => {
    const { ctx, user, audit } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    await accountSignIn(browser, await browser.get('/account/security'))
    const page = await browser.get('/account/security')
    const enrol = await browser.post('/account/totp/begin', { csrf_token: csrfOf(page) })
    t.equal(enrol.statusCode, 200)
    t.match(enrol.body, /class="qr" role="img"/)
    t.match(enrol.body, /action="\/account\/totp\/confirm"/)
    t.notMatch(enrol.body, /style=/)
    const secret = shownSecret(enrol)
    const wrong = await browser.post('/account/totp/confirm', { ...hiddenInputs(enrol.body, '/account/totp/confirm'), code: codeNow(ctx, secret) === '000000' ? '111111' : '000000' })
    t.equal(wrong.statusCode, 400)
    t.match(wrong.body, /role="alert"/)
    const codes = await browser.post('/account/totp/confirm', { ...hiddenInputs(wrong.body, '/account/totp/confirm'), code: codeNow(ctx, secret) })
    t.equal(codes.statusCode, 200)
    t.equal([...codes.body.matchAll(/<li><code>/g)].length, 10)
    t.match(codes.body, /<form method="get" action="\/account\/security">/)
    t.match(audit().filter((e) => e.event === 'mfa_enrolled'), [{ userId: user.id, method: 'totp' }])
    t.same(await sessionAmr(ctx), [['pwd', 'otp', 'mfa']], 'a new session with both factors')
    const after = await browser.get('/account/security')
    t.match(after.body, /action="\/account\/totp\/remove"/, 'still allowed in, now that the account has a factor')
  })

  t.test('new recovery codes replace the old ones, shown once', async (t) => {
    const { ctx, user, audit } = await mfaApp(t)
    const { secret, recoveryCodes } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const codePage = await accountSignIn(browser, await browser.get('/account/security'))
    await sendCode(browser, codePage, codeNow(ctx, secret), 'totp', '/account')
    const page = await browser.get('/account/security')
    const made = await browser.post('/account/recovery-codes', { csrf_token: csrfOf(page) })
    t.equal(made.statusCode, 200)
    const fresh = [...made.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1])
    t.equal(fresh.length, 10)
    t.match(made.body, /These codes replace all your earlier recovery codes: the old ones no longer work\. Making new codes again, even by reloading this page, replaces these too\./)
    t.notOk(fresh.includes(recoveryCodes[0]), 'new codes')
    t.match(audit().filter((e) => e.event === 'recovery_codes_regenerated'), [{ userId: user.id }])
    t.notOk(await ctx.secondFactors?.useRecoveryCode(user.id, recoveryCodes[0] as string), 'the old ones no longer work')
  })

  t.test('removing the app; under MFA_REQUIRED=all the last factor cannot be removed', async (t) => {
    for (const policy of ['enrolled', 'all']) {
      const { ctx, user, audit } = await mfaApp(t, { MFA_REQUIRED: policy })
      const { secret } = await enrolTotp(ctx, user)
      const browser = new Browser(ctx.app)
      const codePage = await accountSignIn(browser, await browser.get('/account/security'))
      await sendCode(browser, codePage, codeNow(ctx, secret), 'totp', '/account')
      const page = await browser.get('/account/security')
      const removed = await browser.post('/account/totp/remove', { csrf_token: csrfOf(page) })
      if (policy === 'all') {
        t.equal(removed.statusCode, 409)
        t.match(removed.body, /role="alert"/)
        t.match(removed.body, /before you remove this one/)
        t.ok((await ctx.secondFactors?.status(user.id))?.totp, 'still there')
      } else {
        t.equal(removed.statusCode, 303)
        t.equal(removed.headers.location, '/account/security?notice=totp_removed')
        t.match(audit().filter((e) => e.event === 'mfa_removed'), [{ userId: user.id, method: 'totp' }])
        t.notOk((await ctx.secondFactors?.status(user.id))?.totp)
        const shown = await browser.get(removed.headers.location as string)
        t.match(shown.body, /role="status">The authenticator app was removed/)
      }
    }
  })

  t.test('every account form needs the page\'s CSRF token (403, nothing changed)', async (t) => {
    const { ctx, user } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const codePage = await accountSignIn(browser, await browser.get('/account/security'))
    await sendCode(browser, codePage, codeNow(ctx, secret), 'totp', '/account')
    const good = csrfOf(await browser.get('/account/security'))
    // One character changed (a token that differs only at its end).
    const wrong = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`
    for (const path of ['/account/totp/begin', '/account/totp/confirm', '/account/totp/remove', '/account/recovery-codes']) {
      t.equal((await browser.post(path, {})).statusCode, 403, `${path}: no token`)
      t.equal((await browser.post(path, { csrf_token: wrong })).statusCode, 403, `${path}: wrong token`)
      // Another browser (no session cookie) with the right token.
      t.equal((await new Browser(ctx.app).post(path, { csrf_token: good })).statusCode, 403, `${path}: another browser`)
    }
    t.ok((await ctx.secondFactors?.status(user.id))?.totp)
    t.equal((await ctx.secondFactors?.status(user.id))?.recoveryCodesLeft, 10)
  })

  t.test('MFA_REQUIRED=all and no factor: the account sign-in sends the user to enrol first', async (t) => {
    const { ctx } = await mfaApp(t, { MFA_REQUIRED: 'all' })
    const browser = new Browser(ctx.app)
    const enrol = await accountSignIn(browser, await browser.get('/account/security'))
    t.match(enrol.body, /action="\/account\/enrol"/)
    t.notOk(browser.cookies.has('lk_session'))
    const secret = shownSecret(enrol)
    const codes = await browser.post('/account/enrol', { ...hiddenInputs(enrol.body, '/account/enrol'), code: codeNow(ctx, secret) })
    t.equal([...codes.body.matchAll(/<li><code>/g)].length, 10)
    t.match(codes.body, /action="\/account\/security"/)
    t.match((await browser.get('/account/security')).body, /action="\/account\/totp\/remove"/)
  })

  t.test('a recovery code at the account sign-in says how many are left', async (t) => {
    const { ctx, user } = await mfaApp(t)
    const { recoveryCodes } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const codePage = await accountSignIn(browser, await browser.get('/account/security'))
    const used = await sendCode(browser, codePage, recoveryCodes[3] as string, 'recovery', '/account')
    t.equal(used.statusCode, 200)
    t.match(used.body, /9/)
    t.match(used.body, /<form method="get" action="\/account\/security">/)
    t.match((await browser.get('/account/security')).body, /9<\/strong> of 10|9 of 10/)
  })
})
