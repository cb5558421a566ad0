import t from 'tap'
import { LOGIN_THROTTLE } from '../../src/accounts/login-throttle.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeNow, enrolTotp, mfaApp, sendCode } from '../helpers/mfa.js'
import { basic, codeRequest, createClient, exchange, PASSWORD, signIn } from '../helpers/oauth.js'

// A right password is not a sign-in while a second factor is still due: it must not reset the
// failures of the codes that throttle guessing that factor (else whoever knows the password
// guesses codes without end: right password, 4 wrong codes, right password, …).
eachDialect(t, (t) => {
  const LOCK = LOGIN_THROTTLE.maxFailuresPerAddress

  t.test('the right password on the login page does not reset wrong codes: the username locks', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const wrong = codeNow(ctx, secret) === '000000' ? '111111' : '000000'
    const browser = new Browser(ctx.app)
    let wrongCodes = 0
    let refused = 0
    for (let round = 0; round < 15; round++) {
      let page = await signIn(browser, await browser.get(codeRequest(client).url))
      if (page.statusCode === 429) {
        refused++
        continue
      }
      t.equal(page.statusCode, 200, `round ${round + 1}: the code page`)
      for (let i = 0; i < LOCK - 1; i++) {
        page = await sendCode(browser, page, wrong)
        if (page.statusCode === 429) {
          refused++
          break
        }
        t.equal(page.statusCode, 401)
        wrongCodes++
      }
    }
    t.ok(wrongCodes < LOCK, `at most ${LOCK - 1} wrong codes were checked (${wrongCodes})`)
    t.ok(refused >= 14, `then every attempt was refused with 429 (${refused})`)
    t.notOk(browser.cookies.has('lk_session'))
  })

  t.test('a password grant refused for a user with a second factor does not reset wrong codes either', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const service = await createClient(ctx, { grants: ['password'], scope: 'openid' })
    const grant = () =>
      exchange(ctx.app, { grant_type: 'password', username: user.username, password: PASSWORD }, { authorization: basic(service.client_id, service.client_secret as string) })
    const wrong = codeNow(ctx, secret) === '000000' ? '111111' : '000000'
    const browser = new Browser(ctx.app)
    let page = await signIn(browser, await browser.get(codeRequest(client).url))
    t.equal(page.statusCode, 200)
    let wrongCodes = 0
    let refused = 0
    for (let round = 0; round < 15; round++) {
      const refusedGrant = await grant()
      t.equal(refusedGrant.statusCode, 400, 'the grant is refused (second factor, or locked)')
      for (let i = 0; i < LOCK - 1; i++) {
        const next = await sendCode(browser, page, wrong)
        if (next.statusCode === 429) {
          refused++
          break
        }
        t.equal(next.statusCode, 401)
        page = next
        wrongCodes++
      }
    }
    t.ok(wrongCodes < LOCK, `at most ${LOCK - 1} wrong codes were checked (${wrongCodes})`)
    t.ok(refused >= 13, `then codes were refused with 429 (${refused})`)
  })

  t.test('the whole sign-in (password and right code) resets the failures; signin_succeeded comes only then, with amr', async (t) => {
    const { ctx, user, client, audit } = await mfaApp(t)
    const { secret } = await enrolTotp(ctx, user)
    const wrong = codeNow(ctx, secret) === '000000' ? '111111' : '000000'
    const browser = new Browser(ctx.app)
    let page = await signIn(browser, await browser.get(codeRequest(client).url))
    t.notOk(
      audit().some((e) => e.event === 'signin_succeeded'),
      'no signin_succeeded after the password alone',
    )
    for (let i = 0; i < LOCK - 2; i++) page = await sendCode(browser, page, wrong)
    const done = await sendCode(browser, page, codeNow(ctx, secret))
    t.equal(done.statusCode, 200)
    t.match(done.body, /action="\/authorize\/consent"/)
    t.match(
      audit().filter((e) => e.event === 'signin_succeeded'),
      [{ userId: user.id, via: 'login_page', amr: ['pwd', 'otp', 'mfa'] }],
    )
    // The counts started again: a new round of wrong codes is checked, not refused.
    const other = new Browser(ctx.app)
    page = await signIn(other, await other.get(codeRequest(client).url))
    t.equal(page.statusCode, 200)
    for (let i = 0; i < LOCK - 1; i++) {
      page = await sendCode(other, page, wrong)
      t.equal(page.statusCode, 401, `wrong code ${i + 1} after the sign-in`)
    }
  })

  t.test('a password-only sign-in still resets the failures and says signin_succeeded with amr pwd', async (t) => {
    const { ctx, user, client, audit } = await mfaApp(t)
    const browser = new Browser(ctx.app)
    for (let i = 0; i < LOCK - 1; i++) {
      const wrong = await signIn(browser, await browser.get(codeRequest(client).url), user.username, 'wrong password')
      t.equal(wrong.statusCode, 401)
    }
    const ok = await signIn(browser, await browser.get(codeRequest(client).url))
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /action="\/authorize\/consent"/)
    t.match(
      audit().filter((e) => e.event === 'signin_succeeded'),
      [{ userId: user.id, via: 'login_page', amr: ['pwd'] }],
    )
    const other = new Browser(ctx.app)
    for (let i = 0; i < LOCK - 1; i++) {
      const wrong = await signIn(other, await other.get(codeRequest(client).url), user.username, 'wrong password')
      t.equal(wrong.statusCode, 401, `failure ${i + 1} after the success`)
    }
  })

  t.test('the password grant: signin_succeeded only when tokens are issued', async (t) => {
    const { ctx, user, audit } = await mfaApp(t)
    const service = await createClient(ctx, { grants: ['password'], scope: 'openid' })
    const auth = { authorization: basic(service.client_id, service.client_secret as string) }
    const issued = await exchange(ctx.app, { grant_type: 'password', username: user.username, password: PASSWORD }, auth)
    t.equal(issued.statusCode, 200)
    t.match(
      audit().filter((e) => e.event === 'signin_succeeded'),
      [{ userId: user.id, via: 'password_grant', amr: ['pwd'] }],
    )
    await enrolTotp(ctx, user)
    const refused = await exchange(ctx.app, { grant_type: 'password', username: user.username, password: PASSWORD }, auth)
    t.equal(refused.statusCode, 400)
    t.equal(audit().filter((e) => e.event === 'signin_succeeded').length, 1, 'none for the refused grant')
  })

  t.test('POST /authorize/continue re-checks max_age: a page left open past it asks for the sign-in again', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { recoveryCodes } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client, { scope: 'openid', max_age: '60' }).url))
    const used = await sendCode(browser, page, recoveryCodes[0] as string, 'recovery')
    t.match(used.body, /<form method="post" action="\/authorize\/continue">/)
    ctx.clock.advance(120)
    const again = await browser.post('/authorize/continue', hiddenInputs(used.body, '/authorize/continue'))
    t.equal(again.statusCode, 200)
    t.match(again.body, /action="\/authorize\/login"/)
    t.match(again.body, /Please sign in again/)
    t.notMatch(again.body, /action="\/authorize\/consent"/)
    const tx = await ctx.store.db.selectFrom('authorization_transactions').select(['user_id']).executeTakeFirstOrThrow()
    t.equal(tx.user_id, null, 'the user is forgotten on the request')
  })

  t.test('POST /authorize/continue within max_age goes on to consent', async (t) => {
    const { ctx, user, client } = await mfaApp(t)
    const { recoveryCodes } = await enrolTotp(ctx, user)
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(client, { scope: 'openid', max_age: '60' }).url))
    const used = await sendCode(browser, page, recoveryCodes[0] as string, 'recovery')
    ctx.clock.advance(30)
    const consent = await browser.post('/authorize/continue', hiddenInputs(used.body, '/authorize/continue'))
    t.equal(consent.statusCode, 200)
    t.match(consent.body, /action="\/authorize\/consent"/)
  })
})
