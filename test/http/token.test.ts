import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode, verifyAccessToken } from '../helpers/oauth.js'

async function confidentialSetup(t: Test, env: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env })
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid email' })
  const { code, verifier } = await obtainCode(ctx, client)
  const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }
  return { ctx, user, client, secret: client.client_secret as string, form }
}

function assertTokenError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, error: string) {
  t.equal(res.statusCode, status)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['pragma'], 'no-cache')
  t.match(res.headers['content-type'], /application\/json/)
  t.match(res.json(), { error, error_description: String })
}

eachDialect(t, (t) => {
  t.test('confidential client with client_secret_basic gets a JWT access token and a refresh token', async (t) => {
    const { ctx, user, client, secret, form } = await confidentialSetup(t)
    const res = await exchange(ctx.app, form, { authorization: basic(client.client_id, secret) })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers['pragma'], 'no-cache')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'], 'openid adds an id_token')
    t.equal(body.scope, 'openid email')
    const { payload } = await verifyAccessToken(ctx, body.access_token)
    t.equal(payload.sub, user.id)
    t.equal(payload.client_id, client.client_id)
    t.not(payload.sub, payload.client_id, 'sub and client_id come from separate spaces')
    const record = await ctx.repos.accessTokens.findByJti(payload.jti as string)
    t.ok(record?.codeId, 'the jti is recorded against its code')
    t.ok(record?.familyId, 'and its refresh-token family')
    const family = await ctx.repos.refreshTokens.findFamily(record?.familyId as string)
    t.match(family, { clientId: client.client_id, userId: user.id, scopes: ['openid', 'email'], audience: 'http://localhost:4000', beganWithOpenid: true, revokedAt: null })
    const { sha256Hex } = await import('../../src/oauth/secrets.js')
    const refresh = await ctx.repos.refreshTokens.findByHash(sha256Hex(body.refresh_token))
    t.equal(refresh?.familyId, family?.id, 'refresh token stored only as its hash')
    t.equal(refresh?.expiresAt, ctx.clock.now() + 30 * 86400 * 1000)
  })

  t.test('client_secret_post works and the refresh expiry is capped by REFRESH_TOKEN_MAX_TTL', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t, { REFRESH_TOKEN_TTL: '100', REFRESH_TOKEN_MAX_TTL: '100' })
    const res = await exchange(ctx.app, { ...form, client_id: client.client_id, client_secret: secret })
    t.equal(res.statusCode, 200)
    const { sha256Hex } = await import('../../src/oauth/secrets.js')
    const refresh = await ctx.repos.refreshTokens.findByHash(sha256Hex(res.json().refresh_token))
    t.equal(refresh?.expiresAt, ctx.clock.now() + 100_000)
  })

  t.test('Basic credentials are form-urlencoded (RFC 6749 §2.3.1) and may come with the same client_id in the body', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const header = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(secret)}`).toString('base64')}`
    const res = await exchange(ctx.app, { ...form, client_id: client.client_id }, { authorization: header })
    t.equal(res.statusCode, 200)
  })

  t.test('failed client authentication is 401 invalid_client with WWW-Authenticate', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const cases: Array<[string, Record<string, string>, Record<string, string>]> = [
      ['wrong secret (basic)', form, { authorization: basic(client.client_id, `${secret}x`) }],
      ['wrong secret (post)', { ...form, client_id: client.client_id, client_secret: 'nope' }, {}],
      ['unknown client', form, { authorization: basic('lk_unknown', secret) }],
      ['no secret for a confidential client', { ...form, client_id: client.client_id }, {}],
      ['no client at all', form, {}],
      ['malformed Basic header', form, { authorization: 'Basic !!!' }],
      ['Basic without a colon', form, { authorization: `Basic ${Buffer.from('abc').toString('base64')}` }],
      ['another scheme', form, { authorization: 'Bearer abc' }],
    ]
    for (const [name, body, headers] of cases) {
      const res = await exchange(ctx.app, body, headers)
      t.equal(res.statusCode, 401, name)
      t.equal(res.headers['www-authenticate'], 'Basic realm="latchkey"', name)
      t.equal(res.json().error, 'invalid_client', name)
      t.equal(res.headers['cache-control'], 'no-store', name)
    }
    const ok = await exchange(ctx.app, form, { authorization: basic(client.client_id, secret) })
    t.equal(ok.statusCode, 200, 'failed attempts did not consume the code')
  })

  t.test('two client authentication methods, or a different body client_id, are invalid_request', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const both = await exchange(ctx.app, { ...form, client_secret: secret }, { authorization: basic(client.client_id, secret) })
    assertTokenError(t, both, 400, 'invalid_request')
    const other = await exchange(ctx.app, { ...form, client_id: 'lk_other' }, { authorization: basic(client.client_id, secret) })
    assertTokenError(t, other, 400, 'invalid_request')
  })

  t.test('a public client sends only client_id; a public client sending a secret is invalid_client', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { isPublic: true, grants: ['authorization_code'] })
    const first = await obtainCode(ctx, client)
    const withSecret = await exchange(ctx.app, { grant_type: 'authorization_code', code: first.code, redirect_uri: client.redirectUri, code_verifier: first.verifier, client_id: client.client_id, client_secret: 'x' })
    assertTokenError(t, withSecret, 401, 'invalid_client')
    const res = await exchange(ctx.app, { grant_type: 'authorization_code', code: first.code, redirect_uri: client.redirectUri, code_verifier: first.verifier, client_id: client.client_id })
    t.equal(res.statusCode, 200)
    t.notOk(res.json().refresh_token, 'no refresh token without the refresh_token grant')
  })

  t.test('grant_type errors: missing, unknown, not registered for the client', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const auth = { authorization: basic(client.client_id, secret) }
    assertTokenError(t, await exchange(ctx.app, { ...form, grant_type: '' }, auth), 400, 'invalid_request')
    assertTokenError(t, await exchange(ctx.app, { ...form, grant_type: 'urn:nope' }, auth), 400, 'unsupported_grant_type')
    const cc = await createClient(ctx, { grants: ['client_credentials'], redirectUris: [] })
    const ccRes = await exchange(ctx.app, form, { authorization: basic(cc.client_id, cc.client_secret as string) })
    assertTokenError(t, ccRes, 400, 'unauthorized_client')
  })

  t.test('duplicate parameters are invalid_request, a duplicate resource invalid_target; unknown ones are ignored', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const auth = { authorization: basic(client.client_id, secret), 'content-type': 'application/x-www-form-urlencoded' }
    const dup = await ctx.app.inject({ method: 'POST', url: '/token', headers: auth, payload: `${new URLSearchParams(form)}&code=again` })
    assertTokenError(t, dup, 400, 'invalid_request')
    t.match(dup.json().error_description, /code/)
    const dupResource = await ctx.app.inject({ method: 'POST', url: '/token', headers: auth, payload: `${new URLSearchParams(form)}&resource=https://a.example&resource=https://b.example` })
    assertTokenError(t, dupResource, 400, 'invalid_target')
    const ok = await exchange(ctx.app, { ...form, foo: 'bar', scope: '' }, { authorization: auth.authorization })
    t.equal(ok.statusCode, 200)
  })

  t.test('JSON bodies follow the same rules; other content types are 415', async (t) => {
    const { ctx, client, secret, form } = await confidentialSetup(t)
    const auth = { authorization: basic(client.client_id, secret) }
    const nonString = await ctx.app.inject({ method: 'POST', url: '/token', headers: auth, payload: { ...form, code: 1 } })
    assertTokenError(t, nonString, 400, 'invalid_request')
    const malformed = await ctx.app.inject({ method: 'POST', url: '/token', headers: { ...auth, 'content-type': 'application/json' }, payload: '{' })
    assertTokenError(t, malformed, 400, 'invalid_request')
    const text = await ctx.app.inject({ method: 'POST', url: '/token', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' })
    assertTokenError(t, text, 415, 'invalid_request')
    const json = await ctx.app.inject({ method: 'POST', url: '/token', headers: auth, payload: form })
    t.equal(json.statusCode, 200)
  })

  t.test('other methods are 405 and oversized bodies 413, as JSON', async (t) => {
    const ctx = await buildTestApp(t)
    const get = await ctx.app.inject('/token')
    assertTokenError(t, get, 405, 'invalid_request')
    t.equal(get.headers.allow, 'POST')
    const big = await ctx.app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `a=${'x'.repeat(70_000)}` })
    assertTokenError(t, big, 413, 'invalid_request')
  })
})
