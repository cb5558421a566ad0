import t from 'tap'
import type { Test } from 'tap'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import {
  codeRequest,
  createClient,
  createUser,
  decide,
  exchange,
  obtainCode,
  redirectParams,
  signIn,
  verifyAccessToken,
} from '../helpers/oauth.js'

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

function assertPageHeaders(t: Test, res: { headers: Record<string, unknown> }) {
  for (const [name, value] of Object.entries(PAGE_HEADERS)) t.equal(res.headers[name], value, name)
  t.notOk(res.headers['access-control-allow-origin'], 'no CORS on the authorization endpoint')
}

async function setup(t: Test, env: Record<string, string> = {}) {
  const ctx: TestApp = await buildTestApp(t, { env })
  const user = await createUser(ctx)
  return { ctx, user }
}

eachDialect(t, (t) => {
  t.test('public client: login, consent, code with state and iss, token verifies against the JWKS', async (t) => {
    const { ctx, user } = await setup(t)
    const client = await createClient(ctx, { isPublic: true, redirectUris: ['http://127.0.0.1:8080/cb'], scope: 'openid profile' })
    const browser = new Browser(ctx.app)
    const { pkce, url } = codeRequest(client, { redirect_uri: 'http://127.0.0.1:51234/cb' })

    const login = await browser.get(url)
    t.equal(login.statusCode, 200)
    t.match(login.headers['content-type'], /text\/html/)
    assertPageHeaders(t, login)
    t.match(login.body, /<form method="post" action="\/authorize\/login">/)
    t.match(login.body, /name="username"/)
    t.match(login.body, /name="password"/)
    t.notMatch(login.body, /<script(?! src="\/assets\/(webauthn|passkeys)\.js\?v=)/i, 'no client-side JavaScript but latchkey\'s passkey scripts')
    t.notMatch(login.body, /https?:\/\//, 'no external resources or links')
    const txCookie = login.cookies.find((c) => c.name === 'lk_browser')
    t.ok(txCookie, 'transaction cookie set on the first GET')
    t.equal(txCookie?.httpOnly, true)
    t.equal(txCookie?.sameSite, 'Lax')
    t.notOk(txCookie?.secure, 'not Secure on an http issuer')

    const consent = await signIn(browser, login)
    t.equal(consent.statusCode, 200)
    assertPageHeaders(t, consent)
    const session = consent.cookies.find((c) => c.name === 'lk_session')
    t.ok(session, 'login session cookie')
    t.equal(session?.httpOnly, true)
    t.equal(session?.sameSite, 'Lax')
    t.match(consent.body, /Example App/)
    t.match(consent.body, /alice/)
    t.match(consent.body, /Sign you in with your latchkey account and learn your user id/)
    t.match(consent.body, /See your name/)
    t.match(consent.body, /name="decision" value="allow"/)
    t.match(consent.body, /name="decision" value="deny"/)
    t.match(consent.body, /name="action" value="switch"/)

    const done = await decide(browser, consent, 'allow')
    t.equal(done.statusCode, 303, 'redirect after a form POST is 303')
    assertPageHeaders(t, done)
    const location = new URL(done.headers.location as string)
    t.equal(location.origin + location.pathname, 'http://127.0.0.1:51234/cb', 'loopback port may vary for a public client')
    t.equal(location.searchParams.get('state'), 'xyz-state')
    t.equal(location.searchParams.get('iss'), 'http://localhost:3000')
    const code = location.searchParams.get('code') as string
    t.match(code, /^[A-Za-z0-9_-]{43}$/, '256-bit random code')

    const res = await exchange(ctx.app, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'http://127.0.0.1:51234/cb',
      client_id: client.client_id,
      code_verifier: pkce.verifier,
    })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers['pragma'], 'no-cache')
    const body = res.json()
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 3600)
    t.equal(body.scope, 'openid profile')
    t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/)
    const { payload, protectedHeader } = await verifyAccessToken(ctx, body.access_token)
    t.equal(protectedHeader.typ, 'at+jwt')
    t.equal(protectedHeader.alg, 'RS256')
    t.equal(protectedHeader.kid, ctx.keys.signingKey().kid)
    t.equal(payload.sub, user.id)
    t.equal(payload.aud, 'http://localhost:4000', 'default audience')
    t.equal(payload.client_id, client.client_id)
    t.equal(payload.scope, 'openid profile')
    t.equal(payload.iat, Math.floor(ctx.clock.now() / 1000))
    t.equal(payload.exp, (payload.iat as number) + 3600)
    t.equal(payload.auth_time, Math.floor(ctx.clock.now() / 1000))
    t.type(payload.jti, 'string')
  })

  t.test('deny redirects with access_denied, state and iss', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(client).url))
    const res = await decide(browser, consent, 'deny')
    t.equal(res.statusCode, 303)
    const q = redirectParams(res)
    t.equal(q.get('error'), 'access_denied')
    t.equal(q.get('state'), 'xyz-state')
    t.equal(q.get('iss'), 'http://localhost:3000')
    t.notOk(q.get('code'))
  })

  t.test('a submitted consent cannot be submitted again', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(client).url))
    t.equal((await decide(browser, consent, 'allow')).statusCode, 303)
    const again = await decide(browser, consent, 'allow')
    t.equal(again.statusCode, 400)
    t.notOk(again.headers.location)
    t.match(again.body, /already been completed/)
  })

  t.test('remembered consent skips the page for a confidential client, for a subset of scopes', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { scope: 'openid profile email' })
    const { browser } = await obtainCode(ctx, client, { scope: 'openid profile' })
    const subset = await browser.get(codeRequest(client, { scope: 'openid' }).url)
    t.equal(subset.statusCode, 302, 'signed in and consented: straight back to the client')
    assertPageHeaders(t, subset)
    t.ok(redirectParams(subset).get('code'))
    t.equal(redirectParams(subset).get('iss'), 'http://localhost:3000')

    const wider = await browser.get(codeRequest(client, { scope: 'openid email' }).url)
    t.equal(wider.statusCode, 200, 'a scope not yet consented shows the page')
    t.match(wider.body, /See your email address/)

    const forced = await browser.get(codeRequest(client, { scope: 'openid', prompt: 'consent' }).url)
    t.equal(forced.statusCode, 200, 'prompt=consent always shows it')
    t.match(forced.body, /value="allow"/)
  })

  t.test('remembered consent applies to a public client with an https redirect URI', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { isPublic: true, redirectUris: ['https://spa.example.com/cb'] })
    const { browser } = await obtainCode(ctx, client)
    const res = await browser.get(codeRequest(client).url)
    t.equal(res.statusCode, 302)
    t.ok(redirectParams(res).get('code'))
  })

  t.test('native apps (loopback or private-use redirect URI) see the consent page every time', async (t) => {
    const { ctx } = await setup(t)
    for (const uri of ['http://127.0.0.1:8080/cb', 'com.example.app:/cb']) {
      const client = await createClient(ctx, { isPublic: true, redirectUris: [uri] })
      const { browser, code } = await obtainCode(ctx, client)
      t.ok(code)
      const res = await browser.get(codeRequest(client).url)
      t.equal(res.statusCode, 200, `${uri}: consent again`)
      t.match(res.body, /value="allow"/)
      t.notOk(res.headers.location)
    }
  })

  t.test('private-use scheme redirect carries the code', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { isPublic: true, redirectUris: ['com.example.app:/cb'] })
    const { code } = await obtainCode(ctx, client)
    t.match(code, /^[A-Za-z0-9_-]{43}$/)
  })

  t.test('prompt=none answers login_required, then consent_required, then a code', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { scope: 'openid profile' })
    const browser = new Browser(ctx.app)
    const first = await browser.get(codeRequest(client, { prompt: 'none' }).url)
    t.equal(first.statusCode, 302)
    t.equal(redirectParams(first).get('error'), 'login_required')
    t.equal(redirectParams(first).get('state'), 'xyz-state')
    t.equal(redirectParams(first).get('iss'), 'http://localhost:3000')

    // Signed in, but deny: no consent stored.
    const consent = await signIn(browser, await browser.get(codeRequest(client).url))
    await decide(browser, consent, 'deny')
    const second = await browser.get(codeRequest(client, { prompt: 'none' }).url)
    t.equal(redirectParams(second).get('error'), 'consent_required')

    await obtainCode(ctx, client, {}, browser)
    const third = await browser.get(codeRequest(client, { prompt: 'none' }).url)
    t.equal(third.statusCode, 302)
    t.ok(redirectParams(third).get('code'))
    t.notOk(redirectParams(third).get('error'))
  })

  t.test('prompt=login asks for the password again even with a session', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx)
    const { browser } = await obtainCode(ctx, client)
    const res = await browser.get(codeRequest(client, { prompt: 'login' }).url)
    t.equal(res.statusCode, 200)
    t.match(res.body, /name="password"/)
    ctx.clock.advance(30)
    const after = await signIn(browser, res)
    t.equal(after.statusCode, 303, 'consent remembered: code after the new login')
    const { code } = Object.fromEntries(redirectParams(after))
    t.ok(code)
  })

  t.test('a session alone skips the login page', async (t) => {
    const { ctx } = await setup(t)
    const client = await createClient(ctx, { isPublic: true, redirectUris: ['http://127.0.0.1:9/cb'] })
    const { browser } = await obtainCode(ctx, client)
    const res = await browser.get(codeRequest(client).url)
    t.equal(res.statusCode, 200)
    t.notMatch(res.body, /name="password"/)
    t.match(res.body, /value="allow"/)
  })

  t.test('switching account from the consent page signs in another user', async (t) => {
    const { ctx } = await setup(t)
    const bob = await createUser(ctx, 'bob')
    const client = await createClient(ctx)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(client).url))
    const login = await browser.post('/authorize/login', { ...hiddenInputs(consent.body, '/authorize/login'), action: 'switch' })
    t.equal(login.statusCode, 200)
    t.match(login.body, /name="password"/)
    const consentBob = await signIn(browser, login, 'bob')
    t.match(consentBob.body, /bob/)
    const done = await decide(browser, consentBob, 'allow')
    const { code } = Object.fromEntries(redirectParams(done))
    const codeRow = await ctx.repos.codes.findByHash((await import('../../src/oauth/secrets.js')).sha256Hex(code as string))
    t.equal(codeRow?.userId, bob.id)
  })

  t.test('the client name and username are HTML-escaped on the pages', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx, '<b>eve</b>')
    const client = await createClient(ctx, { name: '<script>alert("x")</script>' })
    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client).url)
    t.notMatch(login.body, /<script>/)
    t.match(login.body, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/)
    const consent = await signIn(browser, login, '<b>eve</b>')
    t.equal(consent.statusCode, 200)
    t.notMatch(consent.body, /<b>eve<\/b>/)
    t.match(consent.body, /&lt;b&gt;eve&lt;\/b&gt;/)
  })
})
