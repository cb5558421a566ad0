import t, { type Test } from 'tap'
import type { FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import { generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'

const BYE = 'https://app.example.com/bye'
const OTHER_BYE = 'https://other.example.com/bye'

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

function assertPageHeaders(t: Test, res: LightMyRequestResponse) {
  for (const [name, value] of Object.entries(PAGE_HEADERS)) t.equal(res.headers[name], value, name)
}

async function setup(t: Test, options: { logger?: FastifyServerOptions['logger'] } = {}) {
  const ctx = await buildTestApp(t, options)
  const user = await createUser(ctx)
  const client = await createClient(ctx, { postLogoutRedirectUris: [BYE] })
  const other = await createClient(ctx, { name: 'Other App', redirectUris: ['https://other.example.com/cb'], postLogoutRedirectUris: [OTHER_BYE] })
  return { ctx, user, client, other }
}

/** A browser signed in through the authorization flow, and its session cookie. */
async function signedIn(ctx: TestApp, client: { client_id: string; redirectUri: string }) {
  const { browser } = await obtainCode(ctx, client)
  const session = browser.cookies.get('lk_session')
  if (!session) throw new Error('no session cookie')
  return { browser, session }
}

function sessionOf(ctx: TestApp, cookie: string) {
  return ctx.repos.sessions.findActive(sha256Hex(cookie), ctx.clock.now())
}

interface HintOptions {
  sub: string
  aud: string | string[]
  azp?: string
  typ?: string
  iss?: string
  /** Seconds from the fake clock's now. */
  iat?: number
  exp?: number
  /** Epoch seconds of the sign-in; defaults to now, when the test's session signed in. */
  authTime?: number | null
  key?: CryptoKey
}

/** An ID token as latchkey issues them (RS256, its key and kid, typ JWT), or a variation. */
async function idToken(ctx: TestApp, options: HintOptions): Promise<string> {
  const signing = ctx.keys.signingKey()
  const now = Math.floor(ctx.clock.now() / 1000)
  const payload: Record<string, unknown> = options.azp === undefined ? {} : { azp: options.azp }
  if (options.authTime !== null) payload.auth_time = options.authTime ?? now
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: options.typ ?? 'JWT' })
    .setIssuer(options.iss ?? ctx.config.issuer)
    .setSubject(options.sub)
    .setAudience(options.aud)
    .setIssuedAt(now + (options.iat ?? 0))
    .setExpirationTime(now + (options.exp ?? 3600))
    .sign(options.key ?? signing.privateKey)
}

function logoutUrl(params: Record<string, string | string[] | undefined>): string {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) query.append(name, v)
  }
  return `/logout?${query.toString()}`
}

function clearsSessionCookie(res: LightMyRequestResponse): boolean {
  const cookie = res.cookies.find((c) => c.name === 'lk_session')
  return cookie !== undefined && cookie.value === '' && cookie.expires !== undefined && cookie.expires.getTime() === 0
}

function isLoginPage(res: LightMyRequestResponse): boolean {
  return res.statusCode === 200 && res.body.includes('action="/authorize/login"') && res.body.includes('name="password"')
}

eachDialect(t, (t) => {
  t.test('a valid id_token_hint ends the session at once and redirects to the registered URI with state', async (t) => {
    const { ctx, user, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    t.ok(await sessionOf(ctx, session), 'signed in')
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })

    const res = await browser.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: BYE, state: 'st&te 1' }))
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, `${BYE}?state=st%26te+1`)
    assertPageHeaders(t, res)
    t.ok(clearsSessionCookie(res), 'the session cookie is cleared')
    const cleared = res.cookies.find((c) => c.name === 'lk_session')
    t.equal(cleared?.path, '/')
    t.equal(cleared?.httpOnly, true)
    t.equal(await sessionOf(ctx, session), undefined, 'the session row is gone')
    t.equal(browser.cookies.has('lk_session'), false)

    const again = await browser.get(codeRequest(client).url)
    t.ok(isLoginPage(again), 'the next /authorize asks to sign in again')
    // Even a copy of the old cookie no longer signs anyone in.
    const replay = new Browser(ctx.app)
    replay.cookies.set('lk_session', session)
    t.ok(isLoginPage(await replay.get(codeRequest(client).url)), 'the old session cookie is dead')
  })

  t.test('without post_logout_redirect_uri a valid hint shows the signed-out page; state alone is ignored', async (t) => {
    const { ctx, user, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const res = await browser.get(logoutUrl({ id_token_hint: await idToken(ctx, { sub: user.id, aud: client.client_id }), state: 'abc' }))
    t.equal(res.statusCode, 200)
    t.notOk(res.headers.location)
    t.match(res.headers['content-type'], /text\/html/)
    t.match(res.body, /You are signed out/)
    t.notMatch(res.body, /<script/i)
    assertPageHeaders(t, res)
    t.ok(clearsSessionCookie(res))
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('an expired but validly signed hint is accepted', async (t) => {
    const { ctx, user, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id, iat: -7200, exp: -3600 })
    const res = await browser.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: BYE, state: 's1' }))
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, `${BYE}?state=s1`)
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('hints that fail verification show the confirmation page and end nothing until confirmed', async (t) => {
    const { ctx, user, client } = await setup(t)
    const bob = await createUser(ctx, 'bob')
    const foreign = await generateKeyPair('RS256')
    const { code, verifier, browser, session } = await obtainCode(ctx, client).then((r) => ({ ...r, session: r.browser.cookies.get('lk_session') as string }))
    const tokens = await exchange(ctx.app, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: client.client_id, redirect_uri: client.redirectUri })
    const accessToken = (tokens.json() as { access_token: string }).access_token
    const base = { sub: user.id, aud: client.client_id }
    const now = Math.floor(ctx.clock.now() / 1000)

    const bad: Record<string, string> = {
      'a real access token (typ at+jwt)': accessToken,
      'typ at+jwt': await idToken(ctx, { ...base, typ: 'at+jwt' }),
      'signed by a foreign key': await idToken(ctx, { ...base, key: foreign.privateKey }),
      'another issuer': await idToken(ctx, { ...base, iss: 'https://evil.example.com' }),
      'HS256': await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', kid: ctx.keys.signingKey().kid, typ: 'JWT' })
        .setIssuer(ctx.config.issuer)
        .setSubject(user.id)
        .setAudience(client.client_id)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(new TextEncoder().encode('0123456789abcdef0123456789abcdef')),
      'alg none': new UnsecuredJWT({}).setIssuer(ctx.config.issuer).setSubject(user.id).setAudience(client.client_id).setIssuedAt(now).setExpirationTime(now + 3600).encode(),
      'not a JWT': 'not-a-jwt',
      'expired and from another issuer': await idToken(ctx, { ...base, iss: 'https://evil.example.com', iat: -7200, exp: -3600 }),
      'expired and typ at+jwt': await idToken(ctx, { ...base, typ: 'at+jwt', iat: -7200, exp: -3600 }),
      'expired and signed by a foreign key': await idToken(ctx, { ...base, key: foreign.privateKey, iat: -7200, exp: -3600 }),
      'not yet valid (nbf)': await new SignJWT({ nbf: now + 600 })
        .setProtectedHeader({ alg: 'RS256', kid: ctx.keys.signingKey().kid, typ: 'JWT' })
        .setIssuer(ctx.config.issuer)
        .setSubject(user.id)
        .setAudience(client.client_id)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(ctx.keys.signingKey().privateKey),
      'an empty audience': await idToken(ctx, { ...base, aud: [] }),
      'a sub that is not a string': await new SignJWT({ sub: 42 } as unknown as JWTPayload)
        .setProtectedHeader({ alg: 'RS256', kid: ctx.keys.signingKey().kid, typ: 'JWT' })
        .setIssuer(ctx.config.issuer)
        .setAudience(client.client_id)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(ctx.keys.signingKey().privateKey),
      'for another user than the one signed in': await idToken(ctx, { ...base, sub: bob.id }),
    }
    for (const [name, hint] of Object.entries(bad)) {
      const res = await browser.get(logoutUrl({ id_token_hint: hint, client_id: client.client_id, post_logout_redirect_uri: BYE, state: 's2' }))
      t.equal(res.statusCode, 200, name)
      t.notOk(res.headers.location, `${name}: no redirect`)
      t.match(res.body, /<form method="post" action="\/logout\/confirm">/, `${name}: asks first`)
      assertPageHeaders(t, res)
      t.notOk(res.cookies.some((c) => c.name === 'lk_session'), `${name}: session cookie untouched`)
      t.ok(await sessionOf(ctx, session), `${name}: still signed in`)
      const fields = hiddenInputs(res.body, '/logout/confirm')
      t.same(Object.keys(fields).sort(), ['client_id', 'csrf_token', 'post_logout_redirect_uri', 'state'], `${name}: the hint is not copied into the page`)
      t.match(fields, { client_id: client.client_id, post_logout_redirect_uri: BYE, state: 's2' })
      t.notOk(res.body.includes(hint), `${name}: token not in the page`)
    }
    const page = await browser.get(logoutUrl({ client_id: client.client_id }))
    t.match(page.body, /Signed in as <strong>alice<\/strong>/)
    t.match(page.body, /<strong><bdi>Example App<\/bdi><\/strong> asks to sign you out/)
  })

  t.test('confirming with the CSRF token ends the session and redirects to the registered URI with state', async (t) => {
    const { ctx, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const page = await browser.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE, state: 'xyz' }))
    t.equal(page.statusCode, 200)
    t.ok(await sessionOf(ctx, session), 'the GET alone ends nothing')

    const res = await browser.post('/logout/confirm', hiddenInputs(page.body, '/logout/confirm'))
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, `${BYE}?state=xyz`)
    assertPageHeaders(t, res)
    t.ok(clearsSessionCookie(res))
    t.equal(await sessionOf(ctx, session), undefined)
    t.ok(isLoginPage(await browser.get(codeRequest(client).url)))
  })

  t.test('confirming without a post_logout_redirect_uri shows the signed-out page', async (t) => {
    const { ctx, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const page = await browser.get('/logout')
    t.same(Object.keys(hiddenInputs(page.body, '/logout/confirm')), ['csrf_token'])
    const res = await browser.post('/logout/confirm', hiddenInputs(page.body, '/logout/confirm'))
    t.equal(res.statusCode, 200)
    t.match(res.body, /You are signed out/)
    assertPageHeaders(t, res)
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('a confirmation without the CSRF token, or with another browser\'s, is refused with 403 and ends nothing', async (t) => {
    const { ctx, client } = await setup(t)
    const { browser: victim, session } = await signedIn(ctx, client)
    const attacker = new Browser(ctx.app)
    const attackerPage = await attacker.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE }))
    const victimPage = await victim.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE }))
    const victimFields = hiddenInputs(victimPage.body, '/logout/confirm')
    t.ok(victimFields.csrf_token)
    t.not(victimFields.csrf_token, hiddenInputs(attackerPage.body, '/logout/confirm').csrf_token, 'tokens differ per browser')

    const attempts: Record<string, { browser: Browser; form: Record<string, string> }> = {
      'no token': { browser: victim, form: { client_id: client.client_id, post_logout_redirect_uri: BYE } },
      'an empty token': { browser: victim, form: { ...victimFields, csrf_token: '' } },
      'the attacker\'s token': { browser: victim, form: hiddenInputs(attackerPage.body, '/logout/confirm') },
      'a tampered token': { browser: victim, form: { ...victimFields, csrf_token: `${victimFields.csrf_token}x` } },
      'the token twice': { browser: victim, form: { ...victimFields } },
      'the victim\'s token from the attacker\'s browser': { browser: attacker, form: victimFields },
      'no browser cookie at all': { browser: new Browser(ctx.app), form: victimFields },
    }
    for (const [name, { browser, form }] of Object.entries(attempts)) {
      const res =
        name === 'the token twice'
          ? await browser.request({
              method: 'POST',
              url: '/logout/confirm',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              payload: `${new URLSearchParams(form).toString()}&csrf_token=${encodeURIComponent(form.csrf_token as string)}`,
            })
          : await browser.post('/logout/confirm', form)
      t.equal(res.statusCode, 403, name)
      t.match(res.headers['content-type'], /text\/html/)
      t.match(res.body, /This request cannot be completed/)
      t.notOk(res.headers.location, `${name}: no redirect`)
      assertPageHeaders(t, res)
      t.notOk(res.cookies.some((c) => c.name === 'lk_session'), `${name}: session cookie untouched`)
      t.ok(await sessionOf(ctx, session), `${name}: still signed in`)
    }
    t.equal(await ctx.store.db.selectFrom('login_sessions').select('id_hash').execute().then((rows) => rows.length), 1)

    const ok = await victim.post('/logout/confirm', victimFields)
    t.equal(ok.statusCode, 303)
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('an unregistered or unidentifiable post_logout_redirect_uri shows an error page and never redirects', async (t) => {
    const { ctx, user, client, other } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    const cases: Record<string, Record<string, string>> = {
      'unregistered, valid hint': { id_token_hint: hint, post_logout_redirect_uri: 'https://evil.example.com/bye' },
      'unregistered, client_id': { client_id: client.client_id, post_logout_redirect_uri: 'https://evil.example.com/bye' },
      'a trailing slash': { id_token_hint: hint, post_logout_redirect_uri: `${BYE}/` },
      'an extra query': { id_token_hint: hint, post_logout_redirect_uri: `${BYE}?next=https://evil.example.com` },
      'other case': { id_token_hint: hint, post_logout_redirect_uri: BYE.toUpperCase() },
      'the redirect_uri, not a post-logout one': { id_token_hint: hint, post_logout_redirect_uri: client.redirectUri },
      'registered for another client': { id_token_hint: hint, post_logout_redirect_uri: OTHER_BYE },
      'no client identified': { post_logout_redirect_uri: BYE },
      'only an invalid hint': { id_token_hint: 'not-a-jwt', post_logout_redirect_uri: BYE },
      'an unknown client_id': { client_id: 'lk_unknown', post_logout_redirect_uri: BYE },
    }
    for (const [name, params] of Object.entries(cases)) {
      const res = await browser.get(logoutUrl({ ...params, state: 's' }))
      t.equal(res.statusCode, 400, name)
      t.notOk(res.headers.location, `${name}: no redirect`)
      t.match(res.body, /This request cannot be completed/, name)
      t.match(res.body, /invalid_request/)
      assertPageHeaders(t, res)
      t.notOk(res.cookies.some((c) => c.name === 'lk_session'), `${name}: session cookie untouched`)
      t.ok(await sessionOf(ctx, session), `${name}: still signed in`)
    }
    t.equal((await browser.get(logoutUrl({ client_id: 'lk_unknown' }))).statusCode, 400, 'an unknown client_id alone')

    // A forged confirmation with a valid CSRF token still cannot pick an unregistered URI.
    const page = await browser.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE }))
    const fields = hiddenInputs(page.body, '/logout/confirm')
    const forged: Array<Record<string, string>> = [
      { ...fields, post_logout_redirect_uri: 'https://evil.example.com/bye' },
      { ...fields, client_id: other.client_id },
      { csrf_token: fields.csrf_token as string, post_logout_redirect_uri: BYE },
    ]
    for (const form of forged) {
      const res = await browser.post('/logout/confirm', form)
      t.equal(res.statusCode, 400)
      t.notOk(res.headers.location)
      t.ok(await sessionOf(ctx, session), 'still signed in')
    }
  })

  t.test('a client_id that the hint was not issued to shows an error page', async (t) => {
    const { ctx, user, client, other } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    for (const params of [{ client_id: other.client_id }, { client_id: other.client_id, post_logout_redirect_uri: OTHER_BYE }]) {
      const res = await browser.get(logoutUrl({ id_token_hint: hint, ...params }))
      t.equal(res.statusCode, 400)
      t.notOk(res.headers.location)
      t.match(res.body, /client_id does not match/)
      assertPageHeaders(t, res)
      t.ok(await sessionOf(ctx, session))
    }
    const matching = await browser.get(logoutUrl({ id_token_hint: hint, client_id: client.client_id, post_logout_redirect_uri: BYE }))
    t.equal(matching.statusCode, 303, 'a client_id equal to the audience is fine')
    t.equal(matching.headers.location, BYE)
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('a hint with several audiences names its client through client_id or azp', async (t) => {
    const { ctx, user, client, other } = await setup(t)
    const aud = [client.client_id, other.client_id]
    const cases: Array<[string, Record<string, string>, number, string | undefined]> = [
      ['client_id in the audience', { id_token_hint: await idToken(ctx, { sub: user.id, aud }), client_id: other.client_id, post_logout_redirect_uri: OTHER_BYE }, 303, OTHER_BYE],
      ['azp', { id_token_hint: await idToken(ctx, { sub: user.id, aud, azp: client.client_id }), post_logout_redirect_uri: BYE }, 303, BYE],
      ['neither', { id_token_hint: await idToken(ctx, { sub: user.id, aud }), post_logout_redirect_uri: BYE }, 400, undefined],
      ['an azp outside the audience', { id_token_hint: await idToken(ctx, { sub: user.id, aud, azp: 'lk_else' }), post_logout_redirect_uri: BYE }, 400, undefined],
    ]
    for (const [name, params, status, location] of cases) {
      const { browser, session } = await signedIn(ctx, client)
      const res = await browser.get(logoutUrl(params))
      t.equal(res.statusCode, status, name)
      t.equal(res.headers.location, location, name)
      t.equal(await sessionOf(ctx, session) === undefined, status === 303, `${name}: session ended only on success`)
    }
  })

  t.test('POST /logout answers 303 to the same-site GET with the same parameters, reading no session', async (t) => {
    const { ctx, user, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    const form = { id_token_hint: hint, post_logout_redirect_uri: BYE, state: 'a b&c' }
    const res = await browser.post('/logout', form)
    t.equal(res.statusCode, 303)
    assertPageHeaders(t, res)
    const location = res.headers.location as string
    t.ok(location.startsWith('/logout?'), 'same-site, relative')
    t.same(Object.fromEntries(new URL(location, 'http://localhost').searchParams), form)
    t.notOk(res.cookies.some((c) => c.name === 'lk_session'), 'no cookie changes')
    t.ok(await sessionOf(ctx, session), 'the POST itself ends nothing')

    const done = await browser.get(location)
    t.equal(done.statusCode, 303)
    t.equal(done.headers.location, `${BYE}?state=a+b%26c`)
    t.equal(await sessionOf(ctx, session), undefined)

    // Duplicates are passed on, and refused by the GET.
    const dup = await browser.request({
      method: 'POST',
      url: '/logout',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'state=a&state=b',
    })
    t.equal(dup.headers.location, '/logout?state=a&state=b')
    t.equal((await browser.get(dup.headers.location as string)).statusCode, 400)
  })

  t.test('logout without any session still succeeds', async (t) => {
    const { ctx, user, client } = await setup(t)
    const browser = new Browser(ctx.app)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    const direct = await browser.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: BYE, state: 'n' }))
    t.equal(direct.statusCode, 303)
    t.equal(direct.headers.location, `${BYE}?state=n`)
    t.notOk(direct.cookies.some((c) => c.name === 'lk_session'), 'no cookie to clear')

    const page = await browser.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE }))
    t.equal(page.statusCode, 200)
    t.match(page.body, /You are not signed in/)
    const browserCookie = page.cookies.find((c) => c.name === 'lk_browser')
    t.ok(browserCookie, 'the browser cookie the CSRF token is bound to is set')
    t.equal(browserCookie?.httpOnly, true)
    t.equal(browserCookie?.sameSite, 'Lax')
    t.equal(browserCookie?.path, '/')
    const confirmed = await browser.post('/logout/confirm', hiddenInputs(page.body, '/logout/confirm'))
    t.equal(confirmed.statusCode, 303)
    t.equal(confirmed.headers.location, BYE)

    // A session that expired on its own: its row and cookie are still cleaned up.
    const { browser: stale, session } = await signedIn(ctx, client)
    ctx.clock.advance(13 * 60 * 60)
    const res = await stale.get(logoutUrl({ id_token_hint: await idToken(ctx, { sub: user.id, aud: client.client_id }) }))
    t.equal(res.statusCode, 200)
    t.match(res.body, /You are signed out/)
    t.ok(clearsSessionCookie(res))
    const rows = await ctx.store.db.selectFrom('login_sessions').select('id_hash').where('id_hash', '=', sha256Hex(session)).execute()
    t.equal(rows.length, 0, 'the expired row is deleted too')
  })

  t.test('a parameter sent twice shows an error page and ends nothing', async (t) => {
    const { ctx, user, client } = await setup(t)
    const { browser, session } = await signedIn(ctx, client)
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    const single = { id_token_hint: hint, client_id: client.client_id, post_logout_redirect_uri: BYE, state: 's' }
    for (const name of Object.keys(single) as Array<keyof typeof single>) {
      const res = await browser.get(logoutUrl({ ...single, [name]: [single[name], single[name]] }))
      t.equal(res.statusCode, 400, name)
      t.notOk(res.headers.location, name)
      t.match(res.body, `parameter &#39;${name}&#39; was sent more than once`)
      assertPageHeaders(t, res)
      t.ok(await sessionOf(ctx, session), `${name}: still signed in`)
    }
    const page = await browser.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE, state: 's' }))
    const fields = hiddenInputs(page.body, '/logout/confirm')
    const res = await browser.request({
      method: 'POST',
      url: '/logout/confirm',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `${new URLSearchParams(fields).toString()}&state=t`,
    })
    t.equal(res.statusCode, 400, 'duplicates in the confirmation too')
    t.ok(await sessionOf(ctx, session))
  })

  t.test('state and other input are escaped on the confirmation page and come back unchanged', async (t) => {
    const { ctx, client } = await setup(t)
    const { browser } = await signedIn(ctx, client)
    const state = '"><script>alert(1)</script>&amp;'
    const page = await browser.get(logoutUrl({ client_id: client.client_id, post_logout_redirect_uri: BYE, state }))
    t.equal(page.statusCode, 200)
    t.notMatch(page.body, /<script/i)
    t.equal(hiddenInputs(page.body, '/logout/confirm').state, state)
    const res = await browser.post('/logout/confirm', hiddenInputs(page.body, '/logout/confirm'))
    t.equal(new URL(res.headers.location as string).searchParams.get('state'), state)
  })

  t.test('the id_token_hint never reaches the logs', async (t) => {
    const lines: string[] = []
    const { ctx, user, client } = await setup(t, { logger: { level: 'trace', stream: logLines(lines) } })
    const hint = await idToken(ctx, { sub: user.id, aud: client.client_id })
    const res = await ctx.app.inject({ method: 'GET', url: logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: BYE }) })
    t.equal(res.statusCode, 303)
    const posted = await ctx.app.inject({
      method: 'POST',
      url: '/logout',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ id_token_hint: hint }).toString(),
    })
    t.equal(posted.statusCode, 303)
    t.ok(lines.some((l) => l.includes('"url":"/logout"')), 'requests are still logged, without their query')
    t.notOk(lines.some((l) => l.includes(hint)), 'no log line holds the token')
    t.notOk(lines.some((l) => l.includes(hint.split('.')[2] as string)), 'not even its signature')
  })

  t.test('an ID token latchkey issued at /token is a valid hint', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { isPublic: true, postLogoutRedirectUris: [BYE], scope: 'openid profile' })
    const { code, verifier, browser } = await obtainCode(ctx, client, { scope: 'openid', nonce: 'n1' })
    const session = browser.cookies.get('lk_session') as string
    const tokens = await exchange(ctx.app, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: client.client_id, redirect_uri: client.redirectUri })
    const { id_token: idTokenHint } = tokens.json() as { id_token: string }
    t.type(idTokenHint, 'string')
    const res = await browser.get(logoutUrl({ id_token_hint: idTokenHint, post_logout_redirect_uri: BYE, state: 'real' }))
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, `${BYE}?state=real`)
    t.equal(await sessionOf(ctx, session), undefined)
  })

  t.test('a hint from an earlier sign-in (another auth_time, or none) asks first instead of ending the session', async (t) => {
    const { ctx, user, client } = await setup(t)
    const signedInAt = Math.floor(ctx.clock.now() / 1000)
    const { browser, session } = await signedIn(ctx, client)
    for (const [name, authTime] of [['an older sign-in', signedInAt - 86_400], ['no auth_time', null]] as const) {
      const old = await idToken(ctx, { sub: user.id, aud: client.client_id, authTime, exp: -3600 })
      const res = await browser.get(logoutUrl({ id_token_hint: old, post_logout_redirect_uri: BYE, state: 's' }))
      t.equal(res.statusCode, 200, name)
      t.match(res.body, /action="\/logout\/confirm"/, `${name}: the confirmation page`)
      t.ok(await sessionOf(ctx, session), `${name}: the session is intact`)
    }
    const current = await idToken(ctx, { sub: user.id, aud: client.client_id, authTime: signedInAt, exp: -3600 })
    const res = await browser.get(logoutUrl({ id_token_hint: current, post_logout_redirect_uri: BYE }))
    t.equal(res.statusCode, 303, 'an expired hint for this very sign-in ends it at once')
    t.equal(await sessionOf(ctx, session), undefined)
  })
})
