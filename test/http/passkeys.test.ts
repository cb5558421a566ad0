import type { LightMyRequestResponse } from 'fastify'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { disableUser } from '../../src/admin/users.js'
import { NO_AUDIT } from '../../src/audit.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { codeRequest, createClient, createUser, decide, exchange, redirectParams, signIn, verifyAccessToken } from '../helpers/oauth.js'
import { SoftAuthenticator, type Tamper } from '../helpers/webauthn.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { accountCsrfToken } from '../../src/routes/account/session.js'

const ISSUER = 'http://localhost:3000'

async function setUp(t: Test, env: Record<string, string> = {}) {
  const lines: string[] = []
  const ctx = await buildTestApp(t, { env, logger: { level: 'info', stream: logLines(lines) } })
  const user = await createUser(ctx)
  const client = await createClient(ctx)
  const audit = () =>
    lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.audit === true)
  return { ctx, user, client, audit, authenticator: new SoftAuthenticator(ISSUER) }
}

/** The account page's CSRF token for the browser's current session (a registration starts a new one). */
function csrfOf(browser: Browser): string {
  return accountCsrfToken(browser.cookies.get('lk_session') as string)
}

/** Signs in with the password through /authorize and opens the account page's passkey section. */
async function accountPage(ctx: TestApp, client: { client_id: string; redirectUri: string }, username = 'alice') {
  const browser = new Browser(ctx.app)
  await signIn(browser, await browser.get(codeRequest(client).url), username)
  const page = await browser.get('/account/security')
  const csrf = hiddenInputs(page.body, '/account/passkeys').csrf_token as string
  if (csrf !== csrfOf(browser)) throw new Error('the page carries another token')
  return { browser, page, csrf }
}

async function register(ctx: TestApp, client: { client_id: string; redirectUri: string }, authenticator: SoftAuthenticator, name = 'My laptop') {
  const { browser, csrf } = await accountPage(ctx, client)
  const options = await browser.post('/account/passkeys/options', { csrf_token: csrf })
  const credential = authenticator.register(options.json())
  const res = await browser.post('/account/passkeys', { csrf_token: csrf, name, credential: JSON.stringify(credential) })
  return { browser, csrf: csrfOf(browser), res, options: options.json() }
}

/** The login page of a fresh browser, and the options the passkey button fetches. */
async function loginWithOptions(ctx: TestApp, client: { client_id: string; redirectUri: string }) {
  const browser = new Browser(ctx.app)
  const request = codeRequest(client)
  const page = await browser.get(request.url)
  const form = hiddenInputs(page.body, '/authorize/passkey')
  const options = await browser.post('/authorize/passkey/options', { transaction: form.transaction as string, csrf_token: form.csrf_token as string })
  return { browser, page, form, options, pkce: request.pkce }
}

function verify(browser: Browser, form: Record<string, string>, credential: unknown): Promise<LightMyRequestResponse> {
  return browser.post('/authorize/passkey', { transaction: form.transaction as string, csrf_token: form.csrf_token as string, credential: JSON.stringify(credential) })
}

t.test('the login page offers a passkey sign-in, hidden until the script finds WebAuthn', async (t) => {
  const { ctx, client } = await setUp(t)
  const page = await new Browser(ctx.app).get(codeRequest(client).url)
  t.match(page.body, /<div class="passkey" data-passkey-only hidden>/)
  t.match(page.body, /<form method="post" action="\/authorize\/passkey" data-passkey="get" data-options-url="\/authorize\/passkey\/options"/)
  const scripts = [...page.body.matchAll(/<script src="([^"]+)" integrity="(sha384-[^"]+)" defer><\/script>/g)]
  t.same(scripts.map((s) => s[1]?.split('?')[0]), ['/assets/webauthn.js', '/assets/passkeys.js'], 'the bundle, then the wiring, from latchkey itself')
  t.equal(page.headers['content-security-policy'], "default-src 'self'; frame-ancestors 'none'", 'the CSP is unchanged: no inline script')
  t.notMatch(page.body, /<script>|<script [^>]*>[^<]/, 'no inline script')
  for (const [, url, integrity] of scripts) {
    const res = await ctx.app.inject({ method: 'GET', url: url as string })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'application/javascript; charset=utf-8')
    t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
    const { createHash } = await import('node:crypto')
    t.equal(`sha384-${createHash('sha384').update(res.rawPayload).digest('base64')}`, integrity, 'its integrity matches')
  }
})

t.test('a registered passkey signs in alone: discoverable, and the flow goes on to consent and the code', async (t) => {
  const { ctx, user, client, audit, authenticator } = await setUp(t)
  const { res, options } = await register(ctx, client, authenticator)
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json(), { location: '/account/security' })
  t.equal(options.rp.id, 'localhost')
  t.equal(options.rp.name, 'latchkey')
  t.equal(options.authenticatorSelection.residentKey, 'required')
  t.equal(options.authenticatorSelection.userVerification, 'required')
  t.not(options.user.id, Buffer.from(user.id).toString('base64url'), 'the user handle is not the user id…')
  t.notMatch(Buffer.from(options.user.id, 'base64url').toString('latin1'), /alice/, '…nor the username')
  const stored = await ctx.repos.passkeys.listForUser(user.id)
  t.equal(stored.length, 1)
  t.match(stored[0], { name: 'My laptop', counter: 0, transports: ['internal'], lastUsedAt: null })
  t.match(audit().find((e) => e.event === 'mfa_enrolled'), { userId: user.id, method: 'passkey' })

  const { browser, form, options: get } = await loginWithOptions(ctx, client)
  t.equal(get.statusCode, 200)
  t.same(get.json().allowCredentials, [], 'no username asked: any of this RP\'s discoverable credentials')
  t.equal(get.json().userVerification, 'required')
  const consent = await verify(browser, form, authenticator.assert(get.json()))
  t.equal(consent.statusCode, 200, consent.body)
  t.match(consent.body, /action="\/authorize\/consent"/)
  t.ok(browser.cookies.get('lk_session'), 'signed in')
  t.match(audit().find((e) => e.event === 'signin_succeeded' && e.via === 'passkey'), { userId: user.id })
  const done = await decide(browser, consent, 'allow')
  t.equal(done.statusCode, 303)
  t.ok(redirectParams(done).get('code'))
  const used = await ctx.repos.passkeys.findByCredentialId(authenticator.credentials[0]!.id)
  t.equal(used?.counter, 1, 'the counter moved')
  t.ok(used?.lastUsedAt, 'and the use was recorded')
})

t.test('the passkey endpoints refuse a form from another browser or without its CSRF token', async (t) => {
  const { ctx, client, authenticator } = await setUp(t)
  const { browser, form } = await loginWithOptions(ctx, client)
  const wrong = await browser.post('/authorize/passkey/options', { transaction: form.transaction as string, csrf_token: 'nope' })
  t.equal(wrong.statusCode, 403)
  t.equal(wrong.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(wrong.json().error, 'invalid_request')
  const elsewhere = await new Browser(ctx.app).post('/authorize/passkey/options', { transaction: form.transaction as string, csrf_token: form.csrf_token as string })
  t.equal(elsewhere.statusCode, 403, 'another browser (no cookie)')
  const verified = await browser.post('/authorize/passkey', { transaction: form.transaction as string, csrf_token: 'nope', credential: '{}' })
  t.equal(verified.statusCode, 403)

  const { browser: account, csrf } = await register(ctx, client, authenticator)
  for (const url of ['/account/passkeys/options', '/account/passkeys', '/account/passkeys/rename', '/account/passkeys/remove']) {
    const res = await account.post(url, { csrf_token: `${csrf.slice(0, -1)}x`, name: 'x', credential_id: 'x' })
    t.equal(res.statusCode, 403, `${url}: wrong token`)
    t.equal(res.json().error, 'invalid_request')
    const none = await new Browser(ctx.app).post(url, { csrf_token: csrf })
    t.equal(none.statusCode, 401, `${url}: not signed in`)
  }
  t.equal((await account.get('/account/passkeys/options')).statusCode, 404, 'POST only')
})

t.test('an assertion fails, with one message and an audit line, when…', async (t) => {
  const { ctx, user, client, audit, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)

  const refused = async (t: Test, res: LightMyRequestResponse) => {
    t.equal(res.statusCode, 401)
    t.match(res.body, /That passkey could not sign you in/)
    t.notOk(res.cookies.some((c: { name: string }) => c.name === 'lk_session'), 'no session')
  }

  t.test('no challenge was asked for', async (t) => {
    const browser = new Browser(ctx.app)
    const page = await browser.get(codeRequest(client).url)
    const form = hiddenInputs(page.body, '/authorize/passkey')
    await refused(t, await verify(browser, form, authenticator.assert({ challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } as never)))
  })

  t.test('the challenge was used already (a replayed assertion)', async (t) => {
    const { browser, form, options } = await loginWithOptions(ctx, client)
    const assertion = authenticator.assert(options.json())
    const wrong = await verify(browser, form, { ...assertion, response: { ...assertion.response, signature: assertion.response.signature.slice(0, -4) + 'AAAA' } })
    await refused(t, wrong)
    await refused(t, await verify(browser, form, assertion))
  })

  t.test('the challenge expired', async (t) => {
    const { browser, form, options } = await loginWithOptions(ctx, client)
    ctx.clock.advance(5 * 60)
    await refused(t, await verify(browser, form, authenticator.assert(options.json())))
  })

  const tampered: Array<[string, Tamper]> = [
    ['the origin is another', { origin: 'http://localhost:3001' }],
    ['the RP ID is another', { rpId: 'evil.example' }],
    ['the user was not verified', { userVerified: false }],
    ['the challenge is another', { challenge: 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' }],
    ['the user handle is another', { userHandle: 'AAAA' }],
    ['no user handle comes with a discoverable sign-in', { userHandle: null }],
  ]
  for (const [name, tamper] of tampered) {
    t.test(name, async (t) => {
      const { browser, form, options } = await loginWithOptions(ctx, client)
      await refused(t, await verify(browser, form, authenticator.assert(options.json(), tamper)))
    })
  }

  t.test('the credential is unknown', async (t) => {
    const stranger = new SoftAuthenticator(ISSUER)
    await createUser(ctx, 'carol')
    const { browser: other, csrf } = await accountPage(ctx, client, 'carol')
    stranger.register((await other.post('/account/passkeys/options', { csrf_token: csrf })).json())
    const { browser, form, options } = await loginWithOptions(ctx, client)
    await refused(t, await verify(browser, form, stranger.assert(options.json())))
    t.match(audit().findLast((e) => e.event === 'signin_failed'), { via: 'passkey', userId: undefined })
  })

  t.test('the answer is not a credential', async (t) => {
    const { browser, form } = await loginWithOptions(ctx, client)
    await refused(t, await browser.post('/authorize/passkey', { transaction: form.transaction as string, csrf_token: form.csrf_token as string, credential: 'not json' }))
    const again = await loginWithOptions(ctx, client)
    await refused(t, await verify(again.browser, again.form, { id: 1, response: [] }))
  })

  t.test('the signature counter went back (a cloned authenticator)', async (t) => {
    const first = await loginWithOptions(ctx, client)
    t.equal((await verify(first.browser, first.form, authenticator.assert(first.options.json(), { counter: 10 }))).statusCode, 200)
    const second = await loginWithOptions(ctx, client)
    await refused(t, await verify(second.browser, second.form, authenticator.assert(second.options.json(), { counter: 10 })))
    const third = await loginWithOptions(ctx, client)
    await refused(t, await verify(third.browser, third.form, authenticator.assert(third.options.json(), { counter: 3 })))
    t.equal((await ctx.repos.passkeys.findByCredentialId(authenticator.credentials[0]!.id))?.counter, 10, 'the stored counter stays')
    // A passkey alone: a failed sign-in of the passkey's user (no password came first), saying why.
    t.match(audit().findLast((e) => e.event === 'signin_failed'), { userId: user.id, via: 'passkey', reason: 'counter_regressed' })
  })

  t.test('the user is disabled', async (t) => {
    const { browser, form, options } = await loginWithOptions(ctx, client)
    await disableUser({ users: ctx.repos.users, clock: ctx.clock, audit: NO_AUDIT, actor: 'cli' }, 'alice')
    await refused(t, await verify(browser, form, authenticator.assert(options.json())))
  })
})

t.test('failed passkey sign-ins count against the address limit like passwords', async (t) => {
  const { ctx, client, audit, authenticator } = await setUp(t, { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '2' })
  await register(ctx, client, authenticator)
  for (let i = 0; i < 2; i++) {
    const { browser, form, options } = await loginWithOptions(ctx, client)
    t.equal((await verify(browser, form, authenticator.assert(options.json(), { origin: 'https://evil.example' }))).statusCode, 401)
  }
  const { browser, form, options } = await loginWithOptions(ctx, client)
  const res = await verify(browser, form, authenticator.assert(options.json()))
  t.equal(res.statusCode, 429, 'even a good passkey is refused unchecked')
  t.ok(Number(res.headers['retry-after']) > 0)
  t.match(audit().find((e) => e.event === 'signin_throttled'), { via: 'passkey', limit: 'address' })
})

t.test('registration refuses a bad answer with a JSON 400, and a used challenge', async (t) => {
  const { ctx, user, client, authenticator } = await setUp(t)
  const { browser } = await accountPage(ctx, client)
  const post = (credential: unknown) => browser.post('/account/passkeys', { csrf_token: csrfOf(browser), name: 'x', credential: JSON.stringify(credential) })
  const options = async () => (await browser.post('/account/passkeys/options', { csrf_token: csrfOf(browser) })).json()

  const first = await post(authenticator.register(await options()))
  t.equal(first.statusCode, 200, 'a good answer is taken')
  const replay = await post(authenticator.register({ ...(await options()), challenge: 'x' }))
  t.equal(replay.statusCode, 400, 'another challenge than the one issued')
  t.equal(replay.json().error, 'invalid_request')
  t.equal((await post(authenticator.register(await options()))).statusCode, 200)
  t.equal((await post(authenticator.register(await options()))).statusCode, 200)
  const twice = authenticator.register(await options())
  t.equal((await post(twice)).statusCode, 200)
  t.equal((await post(twice)).statusCode, 400, 'the challenge is single use')
  t.equal((await post(authenticator.register(await options(), { origin: 'https://evil.example' }))).statusCode, 400, 'wrong origin')
  t.equal((await post(authenticator.register(await options(), { rpId: 'evil.example' }))).statusCode, 400, 'wrong RP ID')
  t.equal((await post(authenticator.register(await options(), { userVerified: false }))).statusCode, 400, 'user not verified')
  t.equal((await post({ nonsense: true })).statusCode, 400, 'not a credential')
  t.equal((await ctx.repos.passkeys.listForUser(user.id)).length, 4)

  const excluded = await options()
  t.same(
    excluded.excludeCredentials.map((c: { id: string }) => c.id).sort(),
    (await ctx.repos.passkeys.listForUser(user.id)).map((p) => p.credentialId).sort(),
    'the options exclude the user\'s passkeys',
  )
})

t.test('rename and remove: the user\'s own passkeys only, audited', async (t) => {
  const { ctx, user, client, audit, authenticator } = await setUp(t)
  const { browser, csrf } = await register(ctx, client, authenticator)
  const id = authenticator.credentials[0]!.id
  const renamed = await browser.post('/account/passkeys/rename', { csrf_token: csrf, credential_id: id, name: '  Phone\u0007 ' })
  t.equal(renamed.statusCode, 303)
  t.equal(renamed.headers.location, '/account/security')
  t.equal((await ctx.repos.passkeys.findByCredentialId(id))?.name, 'Phone')
  const page = await browser.get('/account/security')
  t.match(page.body, /<strong>Phone<\/strong>/)
  t.equal((await browser.post('/account/passkeys/rename', { csrf_token: csrf, credential_id: id, name: '' })).statusCode, 400)

  await createUser(ctx, 'bob')
  const bob = new Browser(ctx.app)
  await signIn(bob, await bob.get(codeRequest(client).url), 'bob')
  const bobCsrf = hiddenInputs((await bob.get('/account/security')).body, '/account/passkeys').csrf_token as string
  t.equal((await bob.post('/account/passkeys/remove', { csrf_token: bobCsrf, credential_id: id })).statusCode, 404, 'not bob\'s')
  t.equal((await bob.post('/account/passkeys/rename', { csrf_token: bobCsrf, credential_id: id, name: 'mine' })).statusCode, 404)
  t.ok(await ctx.repos.passkeys.findByCredentialId(id))

  const removed = await browser.post('/account/passkeys/remove', { csrf_token: csrf, credential_id: id })
  t.equal(removed.statusCode, 303)
  t.equal(await ctx.repos.passkeys.findByCredentialId(id), undefined)
  t.match(audit().find((e) => e.event === 'mfa_removed'), { userId: user.id, method: 'passkey' })
})

t.test('MFA_REQUIRED=all: the last second factor cannot be removed', async (t) => {
  const { ctx, user, authenticator } = await setUp(t, { MFA_REQUIRED: 'all' })
  // A session made directly: under MFA_REQUIRED=all the password alone signs nobody in.
  const cookie = 'a-session-cookie-value-for-this-test-only-0001'
  await ctx.store.db.insertInto('login_sessions').values({ id_hash: sha256Hex(cookie), user_id: user.id, auth_time: ctx.clock.now(), created_at: ctx.clock.now(), expires_at: ctx.clock.now() + 60_000, amr: '["pwd","otp","mfa"]' }).execute()
  const browser = new Browser(ctx.app)
  browser.cookies.set('lk_session', cookie)
  const add = async () => {
    const options = (await browser.post('/account/passkeys/options', { csrf_token: csrfOf(browser) })).json()
    t.equal((await browser.post('/account/passkeys', { csrf_token: csrfOf(browser), name: 'k', credential: JSON.stringify(authenticator.register(options)) })).statusCode, 200)
  }
  const csrf = () => csrfOf(browser)
  await add()
  await add()
  const [first, second] = authenticator.credentials
  t.equal((await browser.post('/account/passkeys/remove', { csrf_token: csrf(), credential_id: first!.id })).statusCode, 303, 'another remains')
  const last = await browser.post('/account/passkeys/remove', { csrf_token: csrf(), credential_id: second!.id })
  t.equal(last.statusCode, 409)
  t.equal(last.json().error, 'invalid_request')
  t.equal((await ctx.repos.passkeys.listForUser(user.id)).length, 1, 'the last one stays')
})

t.test('the account endpoints need a recent sign-in', async (t) => {
  const { ctx, client } = await setUp(t)
  const { browser, csrf } = await accountPage(ctx, client)
  ctx.clock.advance(15 * 60 + 1)
  const res = await browser.post('/account/passkeys/options', { csrf_token: csrf })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'access_denied')
})

async function redeem(ctx: TestApp, client: { client_id: string; client_secret?: string; redirectUri: string }, consent: LightMyRequestResponse, browser: Browser, verifier: string) {
  const done = await decide(browser, consent, 'allow')
  const code = redirectParams(done).get('code') as string
  const tokens = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.client_id, client_secret: client.client_secret as string })
  const body = tokens.json() as { access_token: string; id_token: string }
  return { status: tokens.statusCode, access: (await verifyAccessToken(ctx, body.access_token)).payload, id: decodeJwt(body.id_token) }
}

t.test('a passkey alone: the tokens say amr ["hwk"] and acr mfa', async (t) => {
  const { ctx, client, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)
  const { browser, form, options, pkce } = await loginWithOptions(ctx, client)
  const consent = await verify(browser, form, authenticator.assert(options.json()))
  const tokens = await redeem(ctx, client, consent, browser, pkce.verifier)
  t.equal(tokens.status, 200)
  t.same(tokens.id.amr, ['hwk'])
  t.equal(tokens.id.acr, 'urn:latchkey:acr:mfa')
  t.same(tokens.access.amr, ['hwk'])
  t.equal(tokens.access.acr, 'urn:latchkey:acr:mfa')
})

t.test('as the second factor after the password: the pending user\'s own passkey, then amr pwd hwk mfa', async (t) => {
  const { ctx, user, client, audit, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)
  const bobKey = new SoftAuthenticator(ISSUER)
  await createUser(ctx, 'bob')
  const bob = await accountPage(ctx, client, 'bob')
  const bobOptions = (await bob.browser.post('/account/passkeys/options', { csrf_token: bob.csrf })).json()
  t.equal((await bob.browser.post('/account/passkeys', { csrf_token: bob.csrf, name: 'b', credential: JSON.stringify(bobKey.register(bobOptions)) })).statusCode, 200)

  // The password was right; the second factor is due (what the second-factor page's step records).
  const pendingSignIn = async () => {
    const { browser, form, pkce } = await loginWithOptions(ctx, client)
    await ctx.repos.transactions.setPending(form.transaction as string, { userId: user.id, amr: ['pwd'] })
    const fields = { transaction: form.transaction as string, csrf_token: form.csrf_token as string }
    const options = await browser.post('/authorize/second-factor/passkey/options', fields)
    return { browser, fields, options, pkce }
  }

  const first = await pendingSignIn()
  t.equal(first.options.statusCode, 200)
  t.same(first.options.json().allowCredentials.map((c: { id: string }) => c.id), [authenticator.credentials[0]!.id], 'alice\'s passkeys only')
  const wrongUser = await first.browser.post('/authorize/second-factor/passkey', { ...first.fields, credential: JSON.stringify(bobKey.assert(first.options.json())) })
  t.equal(wrongUser.statusCode, 401, 'bob\'s passkey does not finish alice\'s sign-in')
  t.match(audit().findLast((e) => e.event === 'mfa_failed'), { userId: user.id, method: 'passkey' })
  t.match(wrongUser.body, /action="\/authorize\/second-factor\/passkey"/, 'the second-factor page again')
  t.match(wrongUser.body, /That passkey could not sign you in/)
  t.equal((await ctx.repos.transactions.findById(first.fields.transaction))?.pendingUserId, user.id, 'still waiting for the second factor')

  const second = await pendingSignIn()
  const consent = await second.browser.post('/authorize/second-factor/passkey', { ...second.fields, credential: JSON.stringify(authenticator.assert(second.options.json(), { userHandle: null })) })
  t.equal(consent.statusCode, 200, consent.body)
  const tokens = await redeem(ctx, client, consent, second.browser, second.pkce.verifier)
  t.same(tokens.id.amr, ['pwd', 'hwk', 'mfa'])
  t.equal(tokens.access.acr, 'urn:latchkey:acr:mfa')

  const none = await loginWithOptions(ctx, client)
  const refused = await none.browser.post('/authorize/second-factor/passkey/options', { transaction: none.form.transaction as string, csrf_token: none.form.csrf_token as string })
  t.equal(refused.statusCode, 400, 'no sign-in waits for a second factor')
  t.equal(refused.json().error, 'invalid_request')
})

t.test('a pending user without a factor, sent to enrol, registers a first passkey in the flow', async (t) => {
  const { ctx, user, client, audit, authenticator } = await setUp(t)
  const pending = async (userId: string) => {
    const { browser, form, pkce } = await loginWithOptions(ctx, client)
    await ctx.repos.transactions.setPending(form.transaction as string, { userId, amr: ['pwd'] })
    const fields = { transaction: form.transaction as string, csrf_token: form.csrf_token as string }
    return { browser, fields, pkce, options: await browser.post('/authorize/enrol/passkey/options', fields) }
  }
  const first = await pending(user.id)
  t.equal(first.options.statusCode, 200)
  t.equal(first.options.json().user.name, 'alice')
  const consent = await first.browser.post('/authorize/enrol/passkey', { ...first.fields, name: 'Phone', credential: JSON.stringify(authenticator.register(first.options.json())) })
  t.equal(consent.statusCode, 200, consent.body)
  t.match(consent.body, /action="\/authorize\/consent"/)
  t.match(audit().find((e) => e.event === 'mfa_enrolled'), { userId: user.id, method: 'passkey' })
  const tokens = await redeem(ctx, client, consent, first.browser, first.pkce.verifier)
  t.same(tokens.id.amr, ['pwd', 'hwk', 'mfa'])

  // Now alice has a factor: a password alone may not add another one.
  const second = await pending(user.id)
  t.equal(second.options.statusCode, 400)
  t.equal(second.options.json().error, 'invalid_request')
  const forced = await second.browser.post('/authorize/enrol/passkey', { ...second.fields, name: 'x', credential: '{}' })
  t.equal(forced.statusCode, 400)
  t.equal((await ctx.repos.passkeys.listForUser(user.id)).length, 1)

  const none = await loginWithOptions(ctx, client)
  t.equal((await none.browser.post('/authorize/enrol/passkey/options', { transaction: none.form.transaction as string, csrf_token: none.form.csrf_token as string })).statusCode, 400, 'nothing pending')
  t.equal((await none.browser.post('/authorize/enrol/passkey/options', { transaction: none.form.transaction as string, csrf_token: 'x' })).statusCode, 403)
})

t.test('MFA_REQUIRED=all: the enrolment page offers a passkey instead of the app, and it finishes the sign-in', async (t) => {
  const { ctx, user, client, authenticator } = await setUp(t, { MFA_REQUIRED: 'all' })
  const browser = new Browser(ctx.app)
  const request = codeRequest(client)
  const enrol = await signIn(browser, await browser.get(request.url))
  t.equal(enrol.statusCode, 200)
  t.match(enrol.body, /data-passkey="create" data-submit-form data-options-url="\/authorize\/enrol\/passkey\/options"/)
  const fields = hiddenInputs(enrol.body, '/authorize/enrol/passkey')
  const options = await browser.post('/authorize/enrol/passkey/options', { transaction: fields.transaction as string, csrf_token: fields.csrf_token as string })
  t.equal(options.statusCode, 200)
  const consent = await browser.post('/authorize/enrol/passkey', { ...fields, credential: JSON.stringify(authenticator.register(options.json())) })
  t.equal(consent.statusCode, 200)
  t.match(consent.body, /action="\/authorize\/consent"/)
  t.equal((await ctx.repos.passkeys.listForUser(user.id))[0]?.name, 'Passkey')
  const tokens = await redeem(ctx, client, consent, browser, request.pkce.verifier)
  t.same(tokens.id.amr, ['pwd', 'hwk', 'mfa'])
})

t.test('the second-factor page offers the pending user\'s passkey', async (t) => {
  const { ctx, client, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)
  const browser = new Browser(ctx.app)
  const request = codeRequest(client)
  const page = await signIn(browser, await browser.get(request.url))
  t.equal(page.statusCode, 200)
  t.match(page.body, /action="\/authorize\/second-factor\/passkey" data-passkey="get"/)
  const fields = hiddenInputs(page.body, '/authorize/second-factor/passkey')
  const options = await browser.post('/authorize/second-factor/passkey/options', { transaction: fields.transaction as string, csrf_token: fields.csrf_token as string })
  const consent = await browser.post('/authorize/second-factor/passkey', { ...fields, credential: JSON.stringify(authenticator.assert(options.json())) })
  t.equal(consent.statusCode, 200)
  const tokens = await redeem(ctx, client, consent, browser, request.pkce.verifier)
  t.same(tokens.id.amr, ['pwd', 'hwk', 'mfa'])
})

t.test('the account page\'s own sign-in takes a passkey alone, and one as the second factor', async (t) => {
  const { ctx, client, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)
  const browser = new Browser(ctx.app)
  const login = await browser.get('/account/security')
  t.match(login.body, /action="\/account\/passkey" data-passkey="get" data-options-url="\/account\/passkey\/options"/)
  const fields = hiddenInputs(login.body, '/account/passkey')
  const options = await browser.post('/account/passkey/options', { sign_in: fields.sign_in as string, csrf_token: fields.csrf_token as string })
  t.equal(options.statusCode, 200)
  const done = await browser.post('/account/passkey', { ...fields, credential: JSON.stringify(authenticator.assert(options.json())) })
  t.equal(done.statusCode, 303)
  t.equal(done.headers.location, '/account/security')
  const page = await browser.get('/account/security')
  t.match(page.body, /<strong>My laptop<\/strong>/, 'the account page, signed in by the passkey')
  t.equal((await browser.post('/account/passkey/options', { sign_in: fields.sign_in as string, csrf_token: 'x' })).statusCode, 403)

  // The password, then the passkey as the second factor.
  const other = new Browser(ctx.app)
  const second = await other.post('/account/login', { ...hiddenInputs((await other.get('/account/security')).body, '/account/login'), username: 'alice', password: 'correct horse battery' })
  t.match(second.body, /action="\/account\/second-factor\/passkey"/)
  const secondFields = hiddenInputs(second.body, '/account/second-factor/passkey')
  const secondOptions = await other.post('/account/second-factor/passkey/options', { sign_in: secondFields.sign_in as string, csrf_token: secondFields.csrf_token as string })
  const finished = await other.post('/account/second-factor/passkey', { ...secondFields, credential: JSON.stringify(authenticator.assert(secondOptions.json())) })
  t.equal(finished.statusCode, 303)
  const session = await ctx.repos.sessions.findActive(sha256Hex(other.cookies.get('lk_session') as string), ctx.clock.now())
  t.same(session?.amr, ['pwd', 'hwk', 'mfa'])
})

t.test('registering a passkey makes the session one with it; a password alone then no longer manages passkeys', async (t) => {
  const { ctx, user, client, authenticator } = await setUp(t)
  const { browser } = await register(ctx, client, authenticator)
  const session = await ctx.repos.sessions.findActive(sha256Hex(browser.cookies.get('lk_session') as string), ctx.clock.now())
  t.same(session?.amr, ['pwd', 'hwk', 'mfa'], 'a new session, with the passkey')
  t.equal((await browser.post('/account/passkeys/options', { csrf_token: csrfOf(browser) })).statusCode, 200)

  // Another browser with the password alone (a session as the password step would make it).
  const cookie = 'another-session-cookie-for-this-test-only-000002'
  await ctx.store.db.insertInto('login_sessions').values({ id_hash: sha256Hex(cookie), user_id: user.id, auth_time: ctx.clock.now(), created_at: ctx.clock.now(), expires_at: ctx.clock.now() + 60_000, amr: '["pwd"]' }).execute()
  const other = new Browser(ctx.app)
  other.cookies.set('lk_session', cookie)
  const res = await other.post('/account/passkeys/options', { csrf_token: csrfOf(other) })
  t.equal(res.statusCode, 401, 'the account has a second factor: the password alone is not enough')
  t.equal((await other.post('/account/passkeys/remove', { csrf_token: csrfOf(other), credential_id: authenticator.credentials[0]!.id })).statusCode, 401)
})

t.test('an assertion posted as the second factor when no sign-in waits for one: 400, the login page again', async (t) => {
  const { ctx, client, authenticator } = await setUp(t)
  await register(ctx, client, authenticator)
  const { browser, form } = await loginWithOptions(ctx, client)
  const fields = { transaction: form.transaction as string, csrf_token: form.csrf_token as string }
  const options = await browser.post('/authorize/passkey/options', fields)
  t.equal(options.statusCode, 200)
  const res = await browser.post('/authorize/second-factor/passkey', { ...fields, credential: JSON.stringify(authenticator.assert(options.json())) })
  t.equal(res.statusCode, 400)
  t.match(res.body, /action="\/authorize\/login"/, 'the login page')
  t.notOk(browser.cookies.get('lk_session'), 'nobody signed in')
})

t.test('a failed in-flow enrolment ends the pending sign-in: 400, the login page with the error, nothing stored', async (t) => {
  const { ctx, user, client, authenticator } = await setUp(t)
  const { browser, form } = await loginWithOptions(ctx, client)
  await ctx.repos.transactions.setPending(form.transaction as string, { userId: user.id, amr: ['pwd'] })
  const fields = { transaction: form.transaction as string, csrf_token: form.csrf_token as string }
  const options = await browser.post('/authorize/enrol/passkey/options', fields)
  t.equal(options.statusCode, 200)
  const res = await browser.post('/authorize/enrol/passkey', { ...fields, name: 'Phone', credential: JSON.stringify(authenticator.register(options.json(), { origin: 'https://evil.example' })) })
  t.equal(res.statusCode, 400)
  t.match(res.body, /action="\/authorize\/login"/, 'the login page')
  t.equal((await ctx.repos.transactions.findById(fields.transaction))?.pendingUserId, null, 'the pending sign-in is forgotten')
  t.equal((await ctx.repos.passkeys.listForUser(user.id)).length, 0)
})
