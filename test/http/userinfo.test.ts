import { randomUUID } from 'node:crypto'
import { SignJWT, UnsecuredJWT } from 'jose'
import t, { type Test } from 'tap'
import { addUser } from '../../src/admin/users.js'
import { accessTokenSigner, type AccessTokenClaims } from '../../src/tokens/access-token.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { basic, createClient, createUser, exchange, obtainCode, PASSWORD, verifyAccessToken } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'
import { NO_AUDIT } from '../../src/audit.js'

type Response = Awaited<ReturnType<TestApp['app']['inject']>>
type Headers = Record<string, string>

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const DEFAULT_AUDIENCE = 'http://localhost:4000'
const NO_CREDENTIALS = 'Bearer realm="latchkey"'

interface Setup {
  ctx: TestApp
  user: { id: string; username: string }
  client: { client_id: string; client_secret?: string; redirectUri: string }
  auth: Headers
  tokens: { access_token: string; refresh_token?: string; scope: string }
}

/**
 * A user (with the given email and name), a confidential client registered for
 * `openid profile email`, and the tokens of one code exchange for `scope`.
 */
async function setup(
  t: Test,
  options: { scope?: string; resource?: string; email?: string; name?: string; logs?: string[] } = {},
): Promise<Setup> {
  const logger = options.logs && {
    level: 'debug',
    stream: logLines(options.logs),
  }
  const ctx = await buildTestApp(t, logger ? { logger } : {})
  const user = await addUser({ users: ctx.repos.users, passwords: testPasswords, clock: ctx.clock, audit: NO_AUDIT }, { username: 'alice', password: PASSWORD, email: options.email, name: options.name })
  const client = await createClient(ctx, { scope: 'openid profile email', ...(options.resource ? { resources: [options.resource] } : {}) })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const tokens = await codeTokens(ctx, client, auth, { scope: options.scope ?? 'openid profile email', resource: options.resource })
  return { ctx, user, client, auth, tokens }
}

async function codeTokens(ctx: TestApp, client: Setup['client'], auth: Headers, extra: Record<string, string | undefined>) {
  const { code, verifier } = await obtainCode(ctx, client, extra)
  const res = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, auth)
  if (res.statusCode !== 200) throw new Error(`exchange failed: ${res.body}`)
  return res.json() as Setup['tokens']
}

const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` })

function get(ctx: TestApp, headers: Headers = {}, url = '/userinfo') {
  return ctx.app.inject({ method: 'GET', url, headers })
}

function post(ctx: TestApp, form: Record<string, string> | string | undefined, headers: Headers = {}, url = '/userinfo') {
  const payload = typeof form === 'object' ? new URLSearchParams(form).toString() : form
  return ctx.app.inject({ method: 'POST', url, headers: { ...(payload === undefined ? {} : FORM), ...headers }, ...(payload === undefined ? {} : { payload }) })
}

/** The same request, sent each way the token may travel. */
function everyTransport(ctx: TestApp, token: string): Array<[string, Promise<Response>]> {
  return [
    ['GET, header', get(ctx, bearer(token))],
    ['POST, header', post(ctx, undefined, bearer(token))],
    ['POST, form body', post(ctx, { access_token: token })],
  ]
}

function assertClaims(t: Test, res: Response, claims: Record<string, unknown>, name = '') {
  t.equal(res.statusCode, 200, `${name}: status`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  t.equal(res.headers['pragma'], 'no-cache', `${name}: pragma`)
  t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
  t.notOk(res.headers['www-authenticate'], `${name}: no challenge`)
  t.same(res.json(), claims, `${name}: claims`)
}

function assertBearerError(t: Test, res: Response, expected: { status: number; error?: string; description?: RegExp; scope?: string }, name = '') {
  t.equal(res.statusCode, expected.status, `${name}: status`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
  const body = res.json()
  const challenge = res.headers['www-authenticate']
  if (expected.error === undefined) {
    // RFC 6750 §3.1: no credentials, no error code, in the challenge or the body.
    t.equal(challenge, NO_CREDENTIALS, `${name}: bare challenge`)
    t.notOk('error' in body, `${name}: no error in the body`)
    t.type(body.error_description, 'string', `${name}: description`)
    return
  }
  t.equal(body.error, expected.error, `${name}: error`)
  t.type(body.error_description, 'string', `${name}: description`)
  if (expected.description) t.match(body.error_description, expected.description, `${name}: description text`)
  let want = `Bearer realm="latchkey", error="${expected.error}", error_description="${body.error_description}"`
  if (expected.scope !== undefined) want += `, scope="${expected.scope}"`
  t.equal(challenge, want, `${name}: challenge`)
}

/** Signs a token with latchkey's current key; `header` and `claims` override the access-token shape. */
async function signed(ctx: TestApp, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const key = ctx.keys.signingKey()
  const iat = Math.floor(ctx.clock.now() / 1000)
  return new SignJWT({ iss: ctx.config.issuer, aud: DEFAULT_AUDIENCE, iat, exp: iat + 300, jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey)
}

function issue(ctx: TestApp, claims: AccessTokenClaims) {
  return accessTokenSigner({ keys: ctx.keys, clock: ctx.clock, issuer: ctx.config.issuer, ttlSeconds: 300 }).issue(claims)
}

eachDialect(t, (t) => {
  t.test('answers sub, the profile claims and the email claims, GET and POST, header and form body', async (t) => {
    const s = await setup(t, { email: 'alice@example.com', name: 'Alice Liddell' })
    t.equal(s.tokens.scope, 'openid profile email')
    const expected = { sub: s.user.id, name: 'Alice Liddell', preferred_username: 'alice', email: 'alice@example.com', email_verified: false }
    for (const [name, res] of everyTransport(s.ctx, s.tokens.access_token)) assertClaims(t, await res, expected, name)
    const charset = await post(s.ctx, new URLSearchParams({ access_token: s.tokens.access_token }).toString(), {
      'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
    })
    assertClaims(t, charset, expected, 'form body with a charset')
    const lowercase = await get(s.ctx, { authorization: `bearer ${s.tokens.access_token}` })
    assertClaims(t, lowercase, expected, 'the scheme is case-insensitive')
    const extra = await post(s.ctx, { access_token: s.tokens.access_token, claims: 'x', other: 'y' })
    assertClaims(t, extra, expected, 'other form parameters are ignored')
    const headerWithBody = await post(s.ctx, { foo: 'bar' }, bearer(s.tokens.access_token))
    assertClaims(t, headerWithBody, expected, 'header token with a form body without access_token')
    const json = await post(s.ctx, JSON.stringify({ hello: 'world' }), { ...bearer(s.tokens.access_token), 'content-type': 'application/json' })
    assertClaims(t, json, expected, 'header token with a JSON body: the body is ignored')
  })

  t.test('claims follow the scopes: openid alone gives only sub', async (t) => {
    const s = await setup(t, { scope: 'openid', email: 'alice@example.com', name: 'Alice Liddell' })
    assertClaims(t, await get(s.ctx, bearer(s.tokens.access_token)), { sub: s.user.id })
  })

  t.test('profile without email, and email without profile', async (t) => {
    const s = await setup(t, { scope: 'openid profile', email: 'alice@example.com', name: 'Alice Liddell' })
    assertClaims(t, await get(s.ctx, bearer(s.tokens.access_token)), { sub: s.user.id, name: 'Alice Liddell', preferred_username: 'alice' }, 'profile')
    const email = await codeTokens(s.ctx, s.client, s.auth, { scope: 'openid email' })
    assertClaims(t, await get(s.ctx, bearer(email.access_token)), { sub: s.user.id, email: 'alice@example.com', email_verified: false }, 'email')
  })

  t.test('a user without name or email: preferred_username only, no null claims', async (t) => {
    const s = await setup(t)
    assertClaims(t, await get(s.ctx, bearer(s.tokens.access_token)), { sub: s.user.id, preferred_username: 'alice' })
  })

  t.test('a token minted for another resource server (aud) is accepted: latchkey is the resource here', async (t) => {
    const s = await setup(t, { resource: 'https://api.example.com', email: 'alice@example.com' })
    const { payload } = await verifyAccessToken(s.ctx, s.tokens.access_token)
    t.equal(payload.aud, 'https://api.example.com')
    const expected = { sub: s.user.id, preferred_username: 'alice', email: 'alice@example.com', email_verified: false }
    for (const [name, res] of everyTransport(s.ctx, s.tokens.access_token)) assertClaims(t, await res, expected, name)
    const list = await signed(s.ctx, { sub: s.user.id, client_id: s.client.client_id, scope: 'openid', auth_time: payload.auth_time, aud: ['https://a.example', 'https://b.example'] })
    assertClaims(t, await get(s.ctx, bearer(list)), { sub: s.user.id }, 'an aud list without latchkey in it')
  })

  t.test('an access token from a refresh works like the first one', async (t) => {
    const s = await setup(t, { scope: 'openid profile' })
    const res = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: s.tokens.refresh_token as string }, s.auth)
    t.equal(res.statusCode, 200)
    assertClaims(t, await get(s.ctx, bearer(res.json().access_token)), { sub: s.user.id, preferred_username: 'alice' })
  })

  t.test('no bearer credentials: 401 with a bare Bearer challenge', async (t) => {
    const s = await setup(t)
    const token = s.tokens.access_token
    const cases: Array<[string, Promise<Response>]> = [
      ['GET without Authorization', get(s.ctx)],
      ['POST without Authorization or body', post(s.ctx, undefined)],
      ['another scheme', get(s.ctx, { authorization: basic(s.client.client_id, s.client.client_secret as string) })],
      ['another scheme, named like a token', get(s.ctx, { authorization: `Token ${token}` })],
      ['a scheme that only starts with Bearer', get(s.ctx, { authorization: `Bearertoken ${token}` })],
      ['POST form without access_token', post(s.ctx, { token })],
      ['POST form with an empty access_token', post(s.ctx, { access_token: '' })],
      // OAuth 2.1 §5.1: a token in the query string is never looked at.
      ['GET with a valid token in the query', get(s.ctx, {}, `/userinfo?access_token=${token}`)],
      ['POST with a valid token in the query', post(s.ctx, undefined, {}, `/userinfo?access_token=${token}`)],
      // RFC 6750 §2.2: only a form-encoded body carries a token.
      ['POST with the token in a JSON body', post(s.ctx, JSON.stringify({ access_token: token }), { 'content-type': 'application/json' })],
      ['POST with the token in a text body', post(s.ctx, `access_token=${token}`, { 'content-type': 'text/plain' })],
      ['GET with a form body', s.ctx.app.inject({ method: 'GET', url: '/userinfo', headers: FORM, payload: `access_token=${token}` })],
    ]
    for (const [name, res] of cases) assertBearerError(t, await res, { status: 401 }, name)
  })

  t.test('a malformed Bearer request: 400 invalid_request', async (t) => {
    const s = await setup(t)
    const token = s.tokens.access_token
    const cases: Array<[string, Promise<Response>, RegExp]> = [
      ['no token', get(s.ctx, { authorization: 'Bearer' }), /missing/],
      ['only spaces after the scheme', get(s.ctx, { authorization: 'Bearer    ' }), /missing/],
      ['several tokens', get(s.ctx, { authorization: `Bearer ${token} ${token}` }), /only one/],
      ['a quote in the token', get(s.ctx, { authorization: 'Bearer abc"def' }), /invalid characters/],
      ['a comma in the token', get(s.ctx, { authorization: `Bearer ${token},x` }), /invalid characters/],
      ['padding in the middle', get(s.ctx, { authorization: 'Bearer ab=cd' }), /invalid characters/],
      ['header and form body at once', post(s.ctx, { access_token: token }, bearer(token)), /more than one method/],
      ['access_token twice in the form', post(s.ctx, `access_token=${token}&access_token=${token}`), /more than once/],
      ['bad characters in the form token', post(s.ctx, { access_token: 'abc def' }), /invalid characters/],
    ]
    for (const [name, res, description] of cases) assertBearerError(t, await res, { status: 400, error: 'invalid_request', description }, name)
  })

  t.test('a bad, forged, foreign or expired token: 401 invalid_token', async (t) => {
    const s = await setup(t)
    const token = s.tokens.access_token
    const { payload } = await verifyAccessToken(s.ctx, token)
    const [header, body, signature] = token.split('.') as [string, string, string]
    const tamperedPayload = Buffer.from(JSON.stringify({ ...payload, scope: 'openid profile email extra' })).toString('base64url')
    const flipped = `${signature.slice(0, -4)}${signature.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`
    const otherKeys = await fixtureKeyStore('other')
    const otherKey = otherKeys.signingKey()
    const now = Math.floor(s.ctx.clock.now() / 1000)
    const userClaims = { sub: s.user.id, client_id: s.client.client_id, scope: 'openid profile', auth_time: payload.auth_time }
    const fullClaims = { ...userClaims, iss: s.ctx.config.issuer, aud: DEFAULT_AUDIENCE, iat: now, exp: now + 300 }
    const foreignKey = await new SignJWT({ ...fullClaims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: otherKey.kid, typ: 'at+jwt' })
      .sign(otherKey.privateKey)
    const sameKidForeignKey = await new SignJWT({ ...fullClaims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: s.ctx.keys.signingKey().kid, typ: 'at+jwt' })
      .sign(otherKey.privateKey)
    const unsecured = new UnsecuredJWT({ ...fullClaims, jti: randomUUID() }).encode()
    const cases: Array<[string, string]> = [
      ['not a JWT', 'abc.def.ghi'],
      ['not even dotted', 'opaque-token-value'],
      ['a tampered payload', `${header}.${tamperedPayload}.${signature}`],
      ['a tampered signature', `${header}.${body}.${flipped}`],
      ['signed by an unknown key', foreignKey],
      ["signed by another key under latchkey's kid", sameKidForeignKey],
      ['another issuer', await signed(s.ctx, { ...userClaims, iss: 'https://other.example.com' })],
      ['no issuer', await signed(s.ctx, { ...userClaims, iss: undefined })],
      // An ID token has the same signature and issuer, but typ JWT (RFC 9068 §4: explicit typing).
      ['an ID-token-looking JWT (typ JWT)', await signed(s.ctx, userClaims, { typ: 'JWT' })],
      ['no typ', await signed(s.ctx, userClaims, { typ: undefined })],
      ['not yet valid (nbf)', await signed(s.ctx, { ...userClaims, nbf: Math.floor(s.ctx.clock.now() / 1000) + 60 })],
    ]
    for (const [name, bad] of cases) {
      assertBearerError(t, await get(s.ctx, bearer(bad)), { status: 401, error: 'invalid_token', description: /invalid or expired/ }, name)
    }
    // An unsecured JWT ("header.payload.", alg none) is a valid b64token: the verifier refuses it.
    assertBearerError(t, await get(s.ctx, bearer(unsecured)), { status: 401, error: 'invalid_token', description: /invalid or expired/ }, 'alg none')
    assertBearerError(t, await post(s.ctx, { access_token: 'abc.def.ghi' }), { status: 401, error: 'invalid_token' }, 'a bad token in the form body')

    assertClaims(t, await get(s.ctx, bearer(token)), { sub: s.user.id, preferred_username: 'alice' }, 'the genuine token still works')
    s.ctx.clock.advance(3599)
    assertClaims(t, await get(s.ctx, bearer(token)), { sub: s.user.id, preferred_username: 'alice' }, 'a second before expiry')
    s.ctx.clock.advance(1)
    for (const [name, res] of everyTransport(s.ctx, token)) {
      assertBearerError(t, await res, { status: 401, error: 'invalid_token', description: /invalid or expired/ }, `expired, ${name}`)
    }
  })

  t.test('a revoked token: 401 invalid_token, however it was revoked', async (t) => {
    const s = await setup(t)
    const second = await codeTokens(s.ctx, s.client, s.auth, { scope: 'openid' })
    assertClaims(t, await get(s.ctx, bearer(s.tokens.access_token)), { sub: s.user.id, preferred_username: 'alice' }, 'before')
    const revoked = await post(s.ctx, { token: s.tokens.access_token, token_type_hint: 'access_token' }, s.auth, '/revoke')
    t.equal(revoked.statusCode, 200)
    for (const [name, res] of everyTransport(s.ctx, s.tokens.access_token)) {
      assertBearerError(t, await res, { status: 401, error: 'invalid_token', description: /revoked/ }, `via /revoke, ${name}`)
    }

    assertClaims(t, await get(s.ctx, bearer(second.access_token)), { sub: s.user.id }, 'another token of the user still works')
    const { payload } = await verifyAccessToken(s.ctx, second.access_token)
    await s.ctx.repos.accessTokens.revoke(payload.jti as string, (payload.exp as number) * 1000, s.ctx.clock.now())
    assertBearerError(t, await get(s.ctx, bearer(second.access_token)), { status: 401, error: 'invalid_token', description: /revoked/ }, 'via the repository')

    // Revoking the refresh token revokes its family and the access tokens issued from it.
    const third = await codeTokens(s.ctx, s.client, s.auth, { scope: 'openid' })
    t.equal((await post(s.ctx, { token: third.refresh_token as string }, s.auth, '/revoke')).statusCode, 200)
    assertBearerError(t, await get(s.ctx, bearer(third.access_token)), { status: 401, error: 'invalid_token', description: /revoked/ }, 'via its refresh token')
  })

  t.test('a revoked token without openid is invalid_token, not insufficient_scope', async (t) => {
    const s = await setup(t, { scope: 'profile' })
    const { payload } = await verifyAccessToken(s.ctx, s.tokens.access_token)
    await s.ctx.repos.accessTokens.revoke(payload.jti as string, (payload.exp as number) * 1000, s.ctx.clock.now())
    assertBearerError(t, await get(s.ctx, bearer(s.tokens.access_token)), { status: 401, error: 'invalid_token', description: /revoked/ })
  })

  t.test('a client_credentials token is refused, whatever its scope', async (t) => {
    const s = await setup(t)
    const service = await createClient(s.ctx, { grants: ['client_credentials'], scope: 'openid profile email', redirectUris: [] })
    const serviceAuth = { authorization: basic(service.client_id, service.client_secret as string) }
    const res = await exchange(s.ctx.app, { grant_type: 'client_credentials' }, serviceAuth)
    t.equal(res.statusCode, 200)
    const fromTokenEndpoint = res.json().access_token as string
    for (const [name, sent] of everyTransport(s.ctx, fromTokenEndpoint)) {
      assertBearerError(t, await sent, { status: 401, error: 'invalid_token', description: /not issued to a user/ }, `from /token, ${name}`)
    }

    // Not relying on the scope: a client token that does carry openid is refused all the same.
    const withOpenid = await issue(s.ctx, { subject: service.client_id, clientId: service.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid', 'profile', 'email'] })
    assertBearerError(t, await get(s.ctx, bearer(withOpenid.token)), { status: 401, error: 'invalid_token', description: /not issued to a user/ }, 'sub is the client, no auth_time, openid')
    // Either mark alone is enough.
    const withAuthTime = await issue(s.ctx, { subject: service.client_id, clientId: service.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid'], authTime: s.ctx.clock.now() })
    assertBearerError(t, await get(s.ctx, bearer(withAuthTime.token)), { status: 401, error: 'invalid_token', description: /not issued to a user/ }, 'sub is the client, with auth_time')
    const userSubNoAuthTime = await issue(s.ctx, { subject: s.user.id, clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid'] })
    assertBearerError(t, await get(s.ctx, bearer(userSubNoAuthTime.token)), { status: 401, error: 'invalid_token', description: /not issued to a user/ }, 'a user sub without auth_time')
    // The same issuer with a user and auth_time is accepted, so the refusals above are about the marks.
    const genuine = await issue(s.ctx, { subject: s.user.id, clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid'], authTime: s.ctx.clock.now() })
    assertClaims(t, await get(s.ctx, bearer(genuine.token)), { sub: s.user.id }, 'the control')
  })

  t.test("a token whose user no longer exists: 401 invalid_token", async (t) => {
    const s = await setup(t)
    const ghost = await issue(s.ctx, { subject: randomUUID(), clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid', 'profile'], authTime: s.ctx.clock.now() })
    assertBearerError(t, await get(s.ctx, bearer(ghost.token)), { status: 401, error: 'invalid_token', description: /no longer exists/ }, 'unknown user id')

    const bob = await createUser(s.ctx, 'bob')
    const bobs = await issue(s.ctx, { subject: bob.id, clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid', 'profile'], authTime: s.ctx.clock.now() })
    assertClaims(t, await get(s.ctx, bearer(bobs.token)), { sub: bob.id, preferred_username: 'bob' }, 'before deletion')
    await s.ctx.store.db.deleteFrom('users').where('id', '=', bob.id).execute()
    assertBearerError(t, await get(s.ctx, bearer(bobs.token)), { status: 401, error: 'invalid_token', description: /no longer exists/ }, 'deleted user')
  })

  t.test('a valid user token without openid: 403 insufficient_scope naming openid', async (t) => {
    const s = await setup(t, { scope: 'profile email', email: 'alice@example.com' })
    t.equal(s.tokens.scope, 'profile email')
    for (const [name, res] of everyTransport(s.ctx, s.tokens.access_token)) {
      assertBearerError(t, await res, { status: 403, error: 'insufficient_scope', description: /openid/, scope: 'openid' }, name)
    }
    const lookalike = await issue(s.ctx, { subject: s.user.id, clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openidx', 'profile'], authTime: s.ctx.clock.now() })
    assertBearerError(t, await get(s.ctx, bearer(lookalike.token)), { status: 403, error: 'insufficient_scope', scope: 'openid' }, 'a scope that only contains the word')
  })

  t.test('other methods: 405 with Allow: GET, POST', async (t) => {
    const s = await setup(t)
    for (const method of ['PUT', 'PATCH', 'DELETE', 'HEAD'] as const) {
      const res = await s.ctx.app.inject({ method, url: '/userinfo', headers: bearer(s.tokens.access_token) })
      t.equal(res.statusCode, 405, method)
      t.equal(res.headers.allow, 'GET, POST', `${method}: Allow`)
      t.equal(res.headers['cache-control'], 'no-store', `${method}: no-store`)
      if (method !== 'HEAD') t.same(res.json(), { error: 'invalid_request', error_description: 'method not allowed' }, `${method}: body`)
    }
  })

  t.test('a body over the limit is refused, not parsed', async (t) => {
    const s = await setup(t)
    const res = await post(s.ctx, `access_token=${s.tokens.access_token}&pad=${'x'.repeat(70 * 1024)}`)
    t.equal(res.statusCode, 413)
    t.equal(res.json().error, 'invalid_request')
  })

  t.test('CORS: any origin may call it with a bearer token, never with cookies', async (t) => {
    const s = await setup(t)
    const origin = 'https://anyone.example'
    const preflight = await s.ctx.app.inject({
      method: 'OPTIONS',
      url: '/userinfo',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    })
    t.equal(preflight.statusCode, 204)
    t.equal(preflight.headers['access-control-allow-origin'], '*')
    t.match(preflight.headers['access-control-allow-methods'], /GET/)
    t.match(preflight.headers['access-control-allow-methods'], /POST/)
    t.match(preflight.headers['access-control-allow-headers'], /Authorization/)
    t.match(preflight.headers['access-control-allow-headers'], /Content-Type/)
    t.notOk(preflight.headers['access-control-allow-credentials'], 'no credentialed (cookie) requests')

    const ok = await get(s.ctx, { ...bearer(s.tokens.access_token), origin })
    t.equal(ok.statusCode, 200)
    t.equal(ok.headers['access-control-allow-origin'], '*')
    t.notOk(ok.headers['access-control-allow-credentials'])
    const form = await post(s.ctx, { access_token: s.tokens.access_token }, { origin })
    t.equal(form.statusCode, 200)
    t.equal(form.headers['access-control-allow-origin'], '*', 'POST with a form body')
    const refused = await get(s.ctx, { origin })
    t.equal(refused.statusCode, 401)
    t.equal(refused.headers['access-control-allow-origin'], '*', 'errors are readable too')
    t.match(refused.headers['access-control-expose-headers'], /WWW-Authenticate/, 'and so is the challenge')

    // The policy is for /userinfo alone: the neighbours keep theirs.
    t.notOk((await s.ctx.app.inject({ method: 'OPTIONS', url: '/introspect', headers: { origin, 'access-control-request-method': 'POST' } })).headers['access-control-allow-origin'])
    t.notOk((await s.ctx.app.inject({ method: 'OPTIONS', url: '/token', headers: { origin, 'access-control-request-method': 'POST' } })).headers['access-control-allow-origin'])
  })

  t.test('the token never reaches the logs', async (t) => {
    const logs: string[] = []
    const s = await setup(t, { logs })
    const token = s.tokens.access_token
    await get(s.ctx, bearer(token))
    await post(s.ctx, { access_token: token })
    await post(s.ctx, { access_token: token }, bearer(token))
    const { payload } = await verifyAccessToken(s.ctx, token)
    await s.ctx.repos.accessTokens.revoke(payload.jti as string, (payload.exp as number) * 1000, s.ctx.clock.now())
    await get(s.ctx, bearer(token))
    const written = logs.join('')
    t.match(written, /userinfo bearer authentication failed/, 'failures are logged')
    const signature = token.split('.')[2] as string
    t.notOk(written.includes(signature), 'no token, in part or whole')
  })

  t.test("a removed client's user token is refused, recorded or not", async (t) => {
    const s = await setup(t)
    // As the password grant without a refresh token issues it: signed, not recorded.
    const token = await issue(s.ctx, { subject: s.user.id, clientId: s.client.client_id, audience: DEFAULT_AUDIENCE, scopes: ['openid'], authTime: s.ctx.clock.now() })
    t.equal((await get(s.ctx, bearer(token.token))).statusCode, 200, 'accepted while the client exists')
    await s.ctx.repos.clients.remove(s.client.client_id, s.ctx.clock.now())
    assertBearerError(t, await get(s.ctx, bearer(token.token)), { status: 401, error: 'invalid_token', description: /client no longer exists/ })
  })
})
