import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeNow, enrolTotp, mfaApp, sendCode, sessionAmr, shownSecret } from '../helpers/mfa.js'
import { codeRequest, PASSWORD, signIn } from '../helpers/oauth.js'
import { MAX_PASSKEYS_PER_USER } from '../../src/accounts/passkeys.js'

/** The account page's sign-in: the login form posting to /account/login. */
function accountSignIn(browser: Browser, page: LightMyRequestResponse, username = 'alice', password = PASSWORD) {
  return browser.post('/account/login', { ...hiddenInputs(page.body, '/account/login'), username, password })
}

const csrfOf = (page: LightMyRequestResponse) => /name="csrf_token" value="([^"]+)"/.exec(page.body)?.[1] as string

eachDialect(t, (t) => {
  t.test('account sign-in: a locked username gets 429 with Retry-After, even with the right password; no session', async (t) => {
    const { ctx } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    let page = await browser.get('/account/security')
    for (let i = 0; i < 5; i++) {
      page = await accountSignIn(browser, page, 'alice', `wrong ${i}`)
      t.equal(page.statusCode, 401, `failure ${i + 1}`)
    }
    const refused = await accountSignIn(browser, page)
    t.equal(refused.statusCode, 429)
    t.ok(Number(refused.headers['retry-after']) > 0)
    t.match(refused.body, /Too many failed sign-ins; try again in a few minutes\./)
    t.match(refused.body, /value="alice"/, 'the username stays filled in')
    t.match(refused.body, /action="\/account\/login"/)
    t.notOk(browser.cookies.has('lk_session'))
    t.equal((await ctx.store.db.selectFrom('login_sessions').selectAll().execute()).length, 0)
  })

  t.test('account sign-in: an address over its failure limit gets 429 naming the wait; no session', async (t) => {
    const { ctx, audit } = await mfaApp(t, { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '2' })
    const browser = new Browser(ctx.app)
    let page = await browser.get('/account/security')
    page = await accountSignIn(browser, page, 'mallory', 'x')
    page = await accountSignIn(browser, page, 'trudy', 'y')
    t.equal(page.statusCode, 401)
    const refused = await accountSignIn(browser, page)
    t.equal(refused.statusCode, 429)
    const retryAfter = Number(refused.headers['retry-after'])
    t.ok(retryAfter > 0)
    t.match(refused.body, /Too many failed sign-ins from your network; try again in/)
    t.match(refused.body, /value="alice"/)
    t.notOk(browser.cookies.has('lk_session'))
    t.match(audit().filter((e) => e.event === 'signin_throttled'), [{ limit: 'address', via: 'login_page' }])
  })

  t.test('account forms that have nothing to do go back to the page, changing nothing', async (t) => {
    const { ctx, user, audit } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    await accountSignIn(browser, await browser.get('/account/security'))
    const csrf = csrfOf(await browser.get('/account/security'))
    // No authenticator app: nothing to remove, and no recovery codes to make.
    const remove = await browser.post('/account/totp/remove', { csrf_token: csrf })
    t.equal(remove.statusCode, 303)
    t.equal(remove.headers.location, '/account/security', 'no "removed" notice')
    const codes = await browser.post('/account/recovery-codes', { csrf_token: csrf })
    t.equal(codes.statusCode, 303)
    t.equal(codes.headers.location, '/account/security')
    t.equal((await ctx.store.db.selectFrom('recovery_codes').selectAll().execute()).length, 0)
    t.same(audit().filter((e) => e.event === 'mfa_removed' || e.event === 'recovery_codes_regenerated'), [])
    // A confirmation without a code: the enrolment page again with an error, nothing enrolled.
    const begun = await browser.post('/account/totp/begin', { csrf_token: csrf })
    t.equal(begun.statusCode, 200)
    const blank = await browser.post('/account/totp/confirm', { csrf_token: csrf })
    t.equal(blank.statusCode, 400)
    t.match(blank.body, /role="alert"/)
    t.match(blank.body, /action="\/account\/totp\/confirm"/)
    t.notOk((await ctx.secondFactors?.status(user.id))?.totp)
    t.same(audit().filter((e) => e.event === 'mfa_enrolled'), [])
  })

  t.test('setting up a second app while one is confirmed goes back to the page; the first one stays', async (t) => {
    const { ctx, user } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    await sendCode(browser, await accountSignIn(browser, await browser.get('/account/security')), codeNow(ctx, secret), 'totp', '/account')
    const before = await ctx.store.db.selectFrom('totp_factors').selectAll().execute()
    const csrf = csrfOf(await browser.get('/account/security'))
    const begun = await browser.post('/account/totp/begin', { csrf_token: csrf })
    t.equal(begun.statusCode, 303)
    t.equal(begun.headers.location, '/account/security')
    t.notMatch(begun.body, /class="qr"/)
    t.same(await ctx.store.db.selectFrom('totp_factors').selectAll().execute(), before, 'the confirmed app is untouched')
  })

  t.test('account enrolment posted before the password asks for the password again; no session', async (t) => {
    const { ctx } = await mfaApp(t, { MFA_REQUIRED: 'all' })
    const browser = new Browser(ctx.app)
    const login = await browser.get('/account/security')
    const res = await browser.post('/account/enrol', { ...hiddenInputs(login.body, '/account/login'), step: 'confirm', code: '123456' })
    t.equal(res.statusCode, 400)
    t.match(res.body, /action="\/account\/login"/)
    t.match(res.body, /Please sign in again/)
    t.notOk(browser.cookies.has('lk_session'))
    t.equal((await ctx.store.db.selectFrom('totp_factors').selectAll().execute()).length, 0)
  })

  t.test('MFA_REQUIRED=all: a user disabled during the enrolment cannot finish it; one without a code gets 400', async (t) => {
    const { ctx, user, audit } = await mfaApp(t, { MFA_REQUIRED: 'all' })
    const browser = new Browser(ctx.app)
    const enrol = await accountSignIn(browser, await browser.get('/account/security'))
    t.match(enrol.body, /action="\/account\/enrol"/)
    const secret = shownSecret(enrol)
    // No code at all: the code field again, with an error; nothing enrolled, no session.
    const blank = await browser.post('/account/enrol', { ...hiddenInputs(enrol.body, '/account/enrol') })
    t.equal(blank.statusCode, 400)
    t.match(blank.body, /role="alert" id="enrol-error"/)
    t.notOk(browser.cookies.has('lk_session'))
    await ctx.store.db.updateTable('users').set({ disabled_at: ctx.clock.now() }).where('id', '=', user.id).execute()
    const res = await browser.post('/account/enrol', { ...hiddenInputs(blank.body, '/account/enrol'), code: codeNow(ctx, secret) })
    t.equal(res.statusCode, 400)
    t.match(res.body, /name="password"/)
    t.match(res.body, /Please sign in again/)
    t.notOk(browser.cookies.has('lk_session'))
    t.same(await sessionAmr(ctx), [])
    t.notOk((await ctx.secondFactors?.status(user.id))?.totp, 'nothing enrolled')
    t.same(audit().filter((e) => e.event === 'mfa_enrolled' || e.event === 'signin_succeeded'), [])
  })

  t.test('/authorize/login without username or password fields is a wrong sign-in (401), not an error', async (t) => {
    const { ctx, client, audit } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client).url)
    const res = await browser.post('/authorize/login', hiddenInputs(login.body, '/authorize/login'))
    t.equal(res.statusCode, 401)
    t.match(res.body, /role="alert" id="login-error"/)
    t.match(res.body, /action="\/authorize\/login"/)
    t.notOk(browser.cookies.has('lk_session'))
    t.ok(audit().some((e) => e.event === 'signin_failed'), 'audited as a failed sign-in')
  })

  t.test('/authorize/continue after the session is gone (signed out in between) is refused', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { recoveryCodes } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const used = await sendCode(browser, await signIn(browser, await browser.get(codeRequest(client).url)), recoveryCodes[0] as string, 'recovery')
    t.match(used.body, /action="\/authorize\/continue"/)
    // Signed out elsewhere: the login session no longer exists.
    await ctx.store.db.deleteFrom('login_sessions').execute()
    const res = await browser.post('/authorize/continue', hiddenInputs(used.body, '/authorize/continue'))
    t.equal(res.statusCode, 400)
    t.match(res.body, /no longer signed in/)
    t.notMatch(res.body, /action="\/authorize\/consent"/)
    t.notOk(res.headers.location, 'no redirect with a code')
  })

  t.test('a user with the most passkeys allowed gets no registration options (409) until one is removed', async (t) => {
    const { ctx, user } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    await sendCode(browser, await accountSignIn(browser, await browser.get('/account/security')), codeNow(ctx, secret), 'totp', '/account')
    const csrf = csrfOf(await browser.get('/account/security'))
    const options = () => browser.post('/account/passkeys/options', { csrf_token: csrf })
    t.equal((await options()).statusCode, 200, 'allowed below the limit')
    const rows = Array.from({ length: MAX_PASSKEYS_PER_USER }, (_, i) => ({
      credential_id: `cred-${i}`, user_id: user.id, public_key: 'AAAA', counter: 0, transports: '[]', name: `Key ${i}`, backed_up: 0, created_at: ctx.clock.now(), last_used_at: null,
    }))
    await ctx.store.db.insertInto('passkeys').values(rows).execute()
    const refused = await options()
    t.equal(refused.statusCode, 409)
    t.match(refused.body, new RegExp(`at most ${MAX_PASSKEYS_PER_USER} passkeys`))
    t.notMatch(refused.body, /challenge/)
    await ctx.store.db.deleteFrom('passkeys').where('credential_id', '=', 'cred-0').execute()
    t.equal((await options()).statusCode, 200, 'allowed again after removing one')
  })

  t.test('a second-factor form without a code is a wrong code (401, audited), no session', async (t) => {
    const { ctx, user, client, audit } = await mfaApp(t)
    await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client).url))
    const res = await browser.post('/authorize/second-factor', { ...hiddenInputs(page.body, '/authorize/second-factor'), method: 'totp' })
    t.equal(res.statusCode, 401)
    t.match(res.body, /role="alert" id="mfa-error"/)
    t.notOk(browser.cookies.has('lk_session'))
    t.match(audit().filter((e) => e.event === 'mfa_failed'), [{ userId: user.id }])
  })
})

