import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, decide, PASSWORD, redirectParams, signIn } from '../helpers/oauth.js'

async function setup(t: Test, env: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env })
  const user = await createUser(ctx)
  const client = await createClient(ctx)
  return { ctx, user, client }
}

async function countRows(ctx: Awaited<ReturnType<typeof setup>>['ctx']) {
  const db = ctx.store.db
  const [sessions, codes, consents] = await Promise.all([
    db.selectFrom('login_sessions').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow(),
    db.selectFrom('authorization_codes').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow(),
    db.selectFrom('consents').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow(),
  ])
  return { sessions: Number(sessions.n), codes: Number(codes.n), consents: Number(consents.n) }
}

eachDialect(t, (t) => {
  t.test('a login form posted from another browser is refused with 403 and changes nothing (login CSRF)', async (t) => {
    const { ctx, client } = await setup(t)
    const victim = new Browser(ctx.app)
    const attacker = new Browser(ctx.app)
    const victimPage = await victim.get(codeRequest(client).url)
    const attackerPage = await attacker.get(codeRequest(client).url)
    const before = await countRows(ctx)

    // The attacker's own transaction and token, submitted from the victim's browser.
    const forged = await victim.post('/authorize/login', { ...hiddenInputs(attackerPage.body), username: 'alice', password: PASSWORD })
    t.equal(forged.statusCode, 403)
    t.match(forged.headers['content-type'], /text\/html/)
    t.equal(forged.headers['x-frame-options'], 'DENY')
    t.notOk(forged.headers['set-cookie'], 'no session cookie')
    t.same(await countRows(ctx), before, 'nothing changed')

    // The victim's transaction with the attacker's CSRF token.
    const mixed = await victim.post('/authorize/login', {
      transaction: hiddenInputs(victimPage.body).transaction as string,
      csrf_token: hiddenInputs(attackerPage.body).csrf_token as string,
      username: 'alice',
      password: PASSWORD,
    })
    t.equal(mixed.statusCode, 403)
    const noToken = await victim.post('/authorize/login', { transaction: hiddenInputs(victimPage.body).transaction as string, username: 'alice', password: PASSWORD })
    t.equal(noToken.statusCode, 403)
    t.same(await countRows(ctx), before)

    // The victim's own form still works.
    const ok = await signIn(victim, victimPage)
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /value="allow"/)
  })

  t.test('a consent form posted from another browser is refused with 403 and issues nothing', async (t) => {
    const { ctx, client } = await setup(t)
    const victim = new Browser(ctx.app)
    const attacker = new Browser(ctx.app)
    const consent = await signIn(victim, await victim.get(codeRequest(client).url))
    await attacker.get(codeRequest(client).url) // the attacker has a browser cookie of its own
    const before = await countRows(ctx)
    const forged = await attacker.post('/authorize/consent', { ...hiddenInputs(consent.body, '/authorize/consent'), decision: 'allow' })
    t.equal(forged.statusCode, 403)
    t.notOk(forged.headers.location)
    t.same(await countRows(ctx), before)
    const switched = await attacker.post('/authorize/login', { ...hiddenInputs(consent.body, '/authorize/login'), action: 'switch' })
    t.equal(switched.statusCode, 403, 'the switch-account form is CSRF-protected too')
    // Still usable by the victim.
    const done = await decide(victim, consent, 'allow')
    t.equal(done.statusCode, 303)
    t.ok(redirectParams(done).get('code'))
  })

  t.test('a failed login shows one generic message with 401 and keeps the transaction', async (t) => {
    const { ctx, client } = await setup(t)
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    const wrongPassword = await signIn(browser, page, 'alice', 'wrong password!')
    const unknownUser = await signIn(browser, page, 'mallory', PASSWORD)
    for (const res of [wrongPassword, unknownUser]) {
      t.equal(res.statusCode, 401)
      t.match(res.body, /Wrong username or password\./)
      t.match(res.body, /name="password"/)
      t.equal(res.headers['cache-control'], 'no-store')
      t.notOk(res.cookies.find((c) => c.name === 'lk_session'))
    }
    t.match(wrongPassword.body, /value="alice"/, 'username kept in the form')
    t.same(hiddenInputs(wrongPassword.body), hiddenInputs(page.body), 'same transaction')
    const ok = await signIn(browser, wrongPassword)
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /value="allow"/)
  })

  t.test('the login session is an opaque random cookie stored only as its SHA-256', async (t) => {
    const { ctx, client, user } = await setup(t)
    const browser = new Browser(ctx.app)
    await signIn(browser, await browser.get(codeRequest(client).url))
    const value = browser.cookies.get('lk_session') as string
    t.match(value, /^[A-Za-z0-9_-]{43}$/)
    const rows = await ctx.store.db.selectFrom('login_sessions').selectAll().execute()
    t.equal(rows.length, 1)
    t.not(rows[0]?.id_hash, value)
    const { sha256Hex } = await import('../../src/oauth/secrets.js')
    t.equal(rows[0]?.id_hash, sha256Hex(value))
    t.equal(rows[0]?.user_id, user.id)
  })

  t.test('cookies are Secure on an https issuer', async (t) => {
    const { ctx, client } = await setup(t, { ISSUER: 'https://auth.example.com' })
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    t.equal(page.cookies.find((c) => c.name === 'lk_browser')?.secure, true)
    const consent = await signIn(browser, page)
    t.equal(consent.cookies.find((c) => c.name === 'lk_session')?.secure, true)
    const done = await decide(browser, consent, 'allow')
    t.equal(redirectParams(done).get('iss'), 'https://auth.example.com')
  })

  t.test('a transaction expires after ten minutes', async (t) => {
    const { ctx, client } = await setup(t)
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    ctx.clock.advance(601)
    const res = await signIn(browser, page)
    t.equal(res.statusCode, 400)
    t.match(res.body, /expired/)
    t.notOk(res.headers.location)
  })

  t.test('consent before sign-in or with a bad decision is refused', async (t) => {
    const { ctx, client } = await setup(t)
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    const early = await browser.post('/authorize/consent', { ...hiddenInputs(page.body), decision: 'allow' })
    t.equal(early.statusCode, 400)
    t.match(early.body, /sign in first/)
    const consent = await signIn(browser, page)
    const bad = await browser.post('/authorize/consent', { ...hiddenInputs(consent.body, '/authorize/consent'), decision: 'maybe' })
    t.equal(bad.statusCode, 400)
    t.notOk(bad.headers.location)
  })

  t.test('a session expires, after which the login page is shown again', async (t) => {
    const { ctx, client } = await setup(t)
    const browser = new Browser(ctx.app)
    await decide(browser, await signIn(browser, await browser.get(codeRequest(client).url)), 'allow')
    ctx.clock.advance(13 * 3600)
    const res = await browser.get(codeRequest(client).url)
    t.equal(res.statusCode, 200)
    t.match(res.body, /name="password"/)
  })
})
