import { createHash } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { accessTokenHash } from '../../src/tokens/id-token.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { basic, codeRequest, createClient, createUser, exchange, obtainCode, redirectParams, signIn, verifyAccessToken } from '../helpers/oauth.js'

async function setup(t: Test, scope = 'openid profile email') {
  const ctx = await buildTestApp(t)
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  return { ctx, user, client, auth }
}

async function codeExchange(s: Awaited<ReturnType<typeof setup>>, extra: Record<string, string | undefined> = {}, browser?: Browser) {
  const { code, verifier } = await obtainCode(s.ctx, s.client, extra, browser)
  const res = await exchange(s.ctx.app, { grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: verifier }, s.auth)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json() as { access_token: string; refresh_token: string; id_token?: string; scope: string }
}

async function verifyIdToken(ctx: TestApp, token: string) {
  return jwtVerify<JWTPayload & Record<string, unknown>>(token, createLocalJWKSet(ctx.keys.jwks()), {
    issuer: ctx.config.issuer,
    typ: 'JWT',
    algorithms: ['RS256'],
    currentDate: new Date(ctx.clock.now()),
  })
}

eachDialect(t, (t) => {
  t.test('with openid the code exchange returns an ID token (OIDC Core §3.1.3.3, §2)', async (t) => {
    const s = await setup(t)
    const tokens = await codeExchange(s, { scope: 'openid email', nonce: 'n-0S6_WzA2Mj' })
    t.ok(tokens.id_token)
    const { payload, protectedHeader } = await verifyIdToken(s.ctx, tokens.id_token as string)
    t.same(protectedHeader, { alg: 'RS256', kid: s.ctx.keys.signingKey().kid, typ: 'JWT' }, 'typ JWT, never at+jwt')
    t.equal(payload.iss, 'http://localhost:3000')
    t.equal(payload.sub, s.user.id)
    t.equal(payload.aud, s.client.client_id, 'aud is the client_id')
    const now = Math.floor(s.ctx.clock.now() / 1000)
    t.equal(payload.iat, now)
    t.equal(payload.exp, now + s.ctx.config.accessTokenTtlSeconds)
    t.equal(payload.auth_time, now)
    t.equal(payload.nonce, 'n-0S6_WzA2Mj', 'the nonce travels through the code')
    const digest = createHash('sha256').update(tokens.access_token).digest()
    t.equal(payload.at_hash, digest.subarray(0, 16).toString('base64url'), 'at_hash is the left half of SHA-256')
    t.equal(payload.at_hash, accessTokenHash(tokens.access_token))
    t.notOk('scope' in payload || 'client_id' in payload || 'jti' in payload, 'no access-token claims')
  })

  t.test('an ID token is never taken for an access token, nor an access token for an ID token', async (t) => {
    const s = await setup(t)
    const tokens = await codeExchange(s, { scope: 'openid' })
    await t.rejects(verifyAccessToken(s.ctx, tokens.id_token as string), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' })
    await t.rejects(verifyIdToken(s.ctx, tokens.access_token), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' })
    t.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt')
  })

  t.test('no nonce sent: none in the ID token; no openid: no ID token', async (t) => {
    const s = await setup(t)
    const withoutNonce = await codeExchange(s, { scope: 'openid' })
    t.notOk('nonce' in (await verifyIdToken(s.ctx, withoutNonce.id_token as string)).payload)
    const plain = await codeExchange(s, { scope: 'email' })
    t.equal(plain.id_token, undefined)
    t.equal(plain.scope, 'email')
  })

  t.test('a refresh of a family begun with openid returns an ID token with the original auth_time and no nonce (§12.2)', async (t) => {
    const s = await setup(t)
    const tokens = await codeExchange(s, { scope: 'openid profile', nonce: 'abc' })
    const signedInAt = Math.floor(s.ctx.clock.now() / 1000)
    s.ctx.clock.advance(600)
    const res = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, s.auth)
    t.equal(res.statusCode, 200)
    const { payload } = await verifyIdToken(s.ctx, res.json().id_token)
    t.equal(payload.sub, s.user.id)
    t.equal(payload.aud, s.client.client_id)
    t.equal(payload.auth_time, signedInAt, 'auth_time of the original sign-in')
    t.equal(payload.iat, signedInAt + 600, 'issued now')
    t.notOk('nonce' in payload, 'no nonce on refresh')
    t.equal(payload.at_hash, accessTokenHash(res.json().access_token))

    const narrowed = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: res.json().refresh_token, scope: 'profile' }, s.auth)
    t.ok(narrowed.json().id_token, 'the family began with openid, whatever the narrowed scope')
  })

  t.test('a family begun without openid gets no ID token on refresh', async (t) => {
    const s = await setup(t)
    const tokens = await codeExchange(s, { scope: 'profile' })
    const res = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, s.auth)
    t.equal(res.statusCode, 200)
    t.equal(res.json().id_token, undefined)
  })

  t.test('max_age: a sign-in older than it must be repeated; a fresh one is reused', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    await codeExchange(s, { scope: 'openid' }, browser)
    s.ctx.clock.advance(120)
    const fresh = await browser.get(codeRequest(s.client, { scope: 'openid', max_age: '300' }).url)
    t.equal(fresh.statusCode, 302, 'signed in 120 s ago, max_age 300: straight back with a code')
    t.ok(redirectParams(fresh).get('code'))
    const stale = await browser.get(codeRequest(s.client, { scope: 'openid', max_age: '60' }).url)
    t.equal(stale.statusCode, 200)
    t.match(stale.body, /name="password"/, 'signed in 120 s ago, max_age 60: the login page')
    const zero = await browser.get(codeRequest(s.client, { scope: 'openid', max_age: '0' }).url)
    t.match(zero.body, /name="password"/, 'max_age=0 always asks')

    // Signing in again yields an ID token whose auth_time is the new sign-in.
    const { pkce, url } = codeRequest(s.client, { scope: 'openid', max_age: '60' })
    const page = await browser.get(url)
    const back = await signIn(browser, page)
    const code = redirectParams(back).get('code') as string
    const res = await exchange(s.ctx.app, { grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: pkce.verifier }, s.auth)
    t.equal((await verifyIdToken(s.ctx, res.json().id_token)).payload.auth_time, Math.floor(s.ctx.clock.now() / 1000))

    s.ctx.clock.advance(120)
    const none = await browser.get(codeRequest(s.client, { scope: 'openid', max_age: '60', prompt: 'none' }).url)
    t.equal(redirectParams(none).get('error'), 'login_required', 'prompt=none with a stale sign-in')
  })

  t.test('a malformed max_age, an over-long nonce or login_hint and request objects are refused by redirect', async (t) => {
    const s = await setup(t)
    const cases: [Record<string, string>, string][] = [
      [{ max_age: '-1' }, 'invalid_request'],
      [{ max_age: '1.5' }, 'invalid_request'],
      [{ max_age: 'soon' }, 'invalid_request'],
      [{ max_age: '12345678901' }, 'invalid_request'],
      [{ nonce: 'n'.repeat(1025) }, 'invalid_request'],
      [{ login_hint: 'a'.repeat(256) }, 'invalid_request'],
      [{ request: 'eyJhbGciOiJub25lIn0.e30.' }, 'request_not_supported'],
      [{ request_uri: 'https://client.example/req' }, 'request_uri_not_supported'],
      [{ registration: '{}' }, 'registration_not_supported'],
    ]
    for (const [extra, error] of cases) {
      const res = await s.ctx.app.inject(codeRequest(s.client, { scope: 'openid', ...extra }).url)
      t.equal(res.statusCode, 302, JSON.stringify(extra))
      const params = redirectParams(res)
      t.equal(params.get('error'), error, JSON.stringify(extra))
      t.equal(params.get('state'), 'xyz-state')
      t.equal(params.get('iss'), 'http://localhost:3000')
    }
    const ok = await s.ctx.app.inject(codeRequest(s.client, { scope: 'openid', nonce: 'n'.repeat(1024), max_age: '3600', login_hint: 'a'.repeat(255) }).url)
    t.equal(ok.statusCode, 200, 'a 1024-character nonce, a 255-character hint and a plain max_age are fine')
  })

  t.test('login_hint fills the username field, escaped', async (t) => {
    const s = await setup(t)
    const page = await s.ctx.app.inject(codeRequest(s.client, { login_hint: 'alice"><script>x</script>' }).url)
    t.match(page.body, /name="username"[^>]*value="alice&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/)
    t.notMatch(page.body, /<script>/)
  })

  t.test('POST /authorize carries nonce and max_age through the 303 to the GET', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    const { pkce } = codeRequest(s.client)
    const form = {
      response_type: 'code',
      client_id: s.client.client_id,
      redirect_uri: s.client.redirectUri,
      scope: 'openid',
      state: 's1',
      nonce: 'posted-nonce',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }
    const posted = await browser.post('/authorize', form)
    t.equal(posted.statusCode, 303)
    const location = new URL(posted.headers.location as string, 'http://localhost:3000')
    t.equal(location.pathname, '/authorize')
    t.equal(location.searchParams.get('nonce'), 'posted-nonce')
    const page = await browser.get(`${location.pathname}${location.search}`)
    const consent = await signIn(browser, page)
    const { decide } = await import('../helpers/oauth.js')
    const back = await decide(browser, consent, 'allow')
    const code = redirectParams(back).get('code') as string
    const res = await exchange(s.ctx.app, { grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: pkce.verifier }, s.auth)
    t.equal((await verifyIdToken(s.ctx, res.json().id_token)).payload.nonce, 'posted-nonce')
  })

  t.test('the consent page describes the built-in scopes', async (t) => {
    const s = await setup(t, 'openid profile email offline_access')
    const browser = new Browser(s.ctx.app)
    const page = await browser.get(codeRequest(s.client, { scope: 'openid profile email offline_access' }).url)
    const consent = await signIn(browser, page)
    t.match(consent.body, /Sign you in with your latchkey account and learn your user id/)
    t.match(consent.body, /See your name and username/)
    t.match(consent.body, /See your email address/)
    t.match(consent.body, /Keep access while you are not using it/)
    t.notMatch(consent.body, /until you revoke it/, 'no promise of a revocation the user cannot make')
  })

  t.test('discovery carries the OpenID Connect fields', async (t) => {
    const { app } = await buildTestApp(t)
    const doc = (await app.inject('/.well-known/openid-configuration')).json()
    t.equal(doc.userinfo_endpoint, 'http://localhost:3000/userinfo')
    t.equal(doc.end_session_endpoint, 'http://localhost:3000/logout')
    t.same(doc.subject_types_supported, ['public'])
    t.same(doc.id_token_signing_alg_values_supported, ['RS256'])
    t.same(doc.scopes_supported, ['openid', 'profile', 'email', 'offline_access'])
    for (const claim of ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'name', 'preferred_username', 'email', 'email_verified']) {
      t.ok(doc.claims_supported.includes(claim), claim)
    }
    t.same(doc.prompt_values_supported, ['none', 'login', 'consent', 'select_account'])
    t.equal(doc.request_parameter_supported, false)
    t.equal(doc.request_uri_parameter_supported, false)
    t.equal(doc.claims_parameter_supported, false)
    t.same((await app.inject('/.well-known/oauth-authorization-server')).json(), doc, 'the same document at both paths')
  })

  t.test('a consent page outlives its sign-in: after logout, or another user signing in, it issues no code', async (t) => {
    const s = await setup(t)
    await createUser(s.ctx, 'bob')
    const browser = new Browser(s.ctx.app)
    const { decide } = await import('../helpers/oauth.js')
    const page = await browser.get(codeRequest(s.client, { scope: 'openid' }).url)
    const consent = await signIn(browser, page)
    t.match(consent.body, /action="\/authorize\/consent"/)

    // Bob signs in on the same browser (prompt=login) while alice's consent page stays open.
    const bobPage = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'login' }).url)
    await signIn(browser, bobPage, 'bob')
    const stale = await decide(browser, consent, 'allow')
    t.equal(stale.statusCode, 400)
    t.notOk(stale.headers.location, 'no redirect, no code')
    t.match(stale.body, /no longer signed in as the user of this request/)

    // Signed out entirely: the same.
    const other = new Browser(s.ctx.app)
    const page2 = await other.get(codeRequest(s.client, { scope: 'openid' }).url)
    const consent2 = await signIn(other, page2)
    other.cookies.delete('lk_session')
    const gone = await decide(other, consent2, 'allow')
    t.equal(gone.statusCode, 400)
    t.notOk(gone.headers.location)
  })

  t.test('max_age is checked again when the consent is given', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    const { decide } = await import('../helpers/oauth.js')
    const { pkce, url } = codeRequest(s.client, { scope: 'openid', max_age: '60' })
    const consent = await signIn(browser, await browser.get(url))
    s.ctx.clock.advance(61)
    const again = await decide(browser, consent, 'allow')
    t.equal(again.statusCode, 200)
    t.match(again.body, /name="password"/, 'the login page, not a code')
    t.match(again.body, /Please sign in again/)
    const consentAgain = await signIn(browser, again)
    const back = await decide(browser, consentAgain, 'allow')
    const code = redirectParams(back).get('code') as string
    const res = await exchange(s.ctx.app, { grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: pkce.verifier }, s.auth)
    t.equal((await verifyIdToken(s.ctx, res.json().id_token)).payload.auth_time, Math.floor(s.ctx.clock.now() / 1000), 'auth_time within max_age')
  })

  t.test('id_token_hint at /authorize: a session of another user does not count (prompt=none: login_required)', async (t) => {
    const s = await setup(t)
    const bob = await createUser(s.ctx, 'bob')
    const browser = new Browser(s.ctx.app)
    const tokens = await codeExchange(s, { scope: 'openid' }, browser)
    const aliceHint = tokens.id_token as string
    const same = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none', id_token_hint: aliceHint }).url)
    t.ok(redirectParams(same).get('code'), 'the hint names the signed-in user: a code')

    const { SignJWT } = await import('jose')
    const key = s.ctx.keys.signingKey()
    const bobHint = await new SignJWT({ auth_time: 1 })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(s.ctx.config.issuer)
      .setSubject(bob.id)
      .setAudience(s.client.client_id)
      .setIssuedAt(1)
      .setExpirationTime(2)
      .sign(key.privateKey)
    const silent = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none', id_token_hint: bobHint }).url)
    t.equal(redirectParams(silent).get('error'), 'login_required')
    const page = await browser.get(codeRequest(s.client, { scope: 'openid', id_token_hint: bobHint }).url)
    t.match(page.body, /name="password"/, 'without prompt=none: the login page')
    const garbage = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none', id_token_hint: 'not-a-jwt' }).url)
    t.ok(redirectParams(garbage).get('code'), 'an unusable hint is ignored')
  })
})
