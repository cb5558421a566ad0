import { generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { KeyStore, PublicJwk } from '../../src/keys/key-store.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { repositories } from '../../src/storage/repositories.js'
import { accessTokenSigner } from '../../src/tokens/access-token.js'
import { newFamily, newRefreshToken } from '../../src/tokens/refresh-token.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { basic, createClient, createUser, exchange, obtainCode, verifyAccessToken } from '../helpers/oauth.js'

type Response = Awaited<ReturnType<TestApp['app']['inject']>>
type Headers = Record<string, string>

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const DEFAULT_AUDIENCE = 'http://localhost:4000'
const INACTIVE = { active: false }

function introspect(ctx: TestApp, form: Record<string, string>, headers: Headers = {}) {
  return ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, ...headers }, payload: new URLSearchParams(form).toString() })
}

function revoke(ctx: TestApp, form: Record<string, string>, headers: Headers) {
  return ctx.app.inject({ method: 'POST', url: '/revoke', headers: { ...FORM, ...headers }, payload: new URLSearchParams(form).toString() })
}

interface Caller {
  client_id: string
  auth: Headers
}

async function confidentialClient(ctx: TestApp, input: Parameters<typeof createClient>[1] = {}): Promise<Caller & { redirectUri: string; client_secret: string }> {
  const client = await createClient(ctx, input)
  return { ...client, client_secret: client.client_secret as string, auth: { authorization: basic(client.client_id, client.client_secret as string) } }
}

/** A resource server registered with `client add --audience`. */
function resourceServer(ctx: TestApp, audience: string) {
  return confidentialClient(ctx, { audience, redirectUris: [] })
}

interface Granted {
  client: Caller & { redirectUri: string; client_secret: string }
  accessToken: string
  refreshToken: string
  claims: JWTPayload & Record<string, unknown>
  familyId: string
}

async function grant(ctx: TestApp, extra: Record<string, string> = {}): Promise<Granted> {
  // RFC 8707: a client asking for a resource is registered for it (`client add --resource`).
  const client = await confidentialClient(ctx, { scope: 'openid email', ...(extra.resource ? { resources: [extra.resource] } : {}) })
  const { code, verifier } = await obtainCode(ctx, client, { scope: 'openid email', ...extra })
  const res = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, client.auth)
  if (res.statusCode !== 200) throw new Error(`exchange failed: ${res.body}`)
  const { access_token: accessToken, refresh_token: refreshToken } = res.json()
  const { payload: claims } = await verifyAccessToken(ctx, accessToken)
  const record = await ctx.repos.accessTokens.findByJti(claims.jti as string)
  return { client, accessToken, refreshToken, claims, familyId: record?.familyId as string }
}

async function setup(t: Test, extra: Record<string, string> = {}) {
  const ctx = await buildTestApp(t)
  const user = await createUser(ctx)
  return { ctx, user, granted: await grant(ctx, extra) }
}

function assertAnswer(t: Test, res: Response, body: Record<string, unknown>, name = '') {
  t.equal(res.statusCode, 200, name)
  t.equal(res.headers['cache-control'], 'no-store', name)
  t.equal(res.headers['pragma'], 'no-cache', name)
  t.match(res.headers['content-type'], /^application\/json/, name)
  t.same(res.json(), body, name)
}

function assertError(t: Test, res: Response, status: number, error: string, name = '') {
  t.equal(res.statusCode, status, name)
  t.equal(res.headers['cache-control'], 'no-store', name)
  t.match(res.headers['content-type'], /^application\/json/, name)
  t.match(res.json(), { error, error_description: String }, name)
}

/** What /introspect shows of an access token issued through the code flow. */
function accessTokenAnswer(ctx: TestApp, granted: Granted, userId: string) {
  const { claims } = granted
  return {
    active: true,
    scope: 'openid email',
    client_id: granted.client.client_id,
    sub: userId,
    exp: claims.exp,
    iat: claims.iat,
    iss: ctx.config.issuer,
    aud: claims.aud,
    token_type: 'Bearer',
    jti: claims.jti,
    auth_time: claims.auth_time,
    // How the user signed in: a password, on the login page.
    acr: 'urn:latchkey:acr:pwd',
    amr: ['pwd'],
  }
}

eachDialect(t, (t) => {
  t.test("the token's own client sees an access token's claims", async (t) => {
    const { ctx, user, granted } = await setup(t)
    const expected = accessTokenAnswer(ctx, granted, user.id)
    t.equal(expected.iat, Math.floor(ctx.clock.now() / 1000))
    t.equal(expected.exp, (expected.iat as number) + 3600)
    t.equal(expected.aud, DEFAULT_AUDIENCE)
    t.type(expected.auth_time, 'number')
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, granted.client.auth), expected)
    const post = { token: granted.accessToken, client_id: granted.client.client_id, client_secret: granted.client.client_secret }
    assertAnswer(t, await introspect(ctx, post), expected, 'client_secret_post')
  })

  t.test("the token's own client sees a refresh token's grant", async (t) => {
    const { ctx, user, granted } = await setup(t)
    const now = Math.floor(ctx.clock.now() / 1000)
    const expected = {
      active: true,
      scope: 'openid email',
      client_id: granted.client.client_id,
      sub: user.id,
      exp: now + 30 * 86400,
      iat: now,
      iss: ctx.config.issuer,
      aud: DEFAULT_AUDIENCE,
      token_type: 'refresh_token',
      acr: 'urn:latchkey:acr:pwd',
      amr: ['pwd'],
    }
    assertAnswer(t, await introspect(ctx, { token: granted.refreshToken }, granted.client.auth), expected)
    const hinted = await introspect(ctx, { token: granted.refreshToken, token_type_hint: 'refresh_token' }, granted.client.auth)
    assertAnswer(t, hinted, expected, 'with the hint')
  })

  t.test('a resource server sees access tokens for its audience, and nothing else', async (t) => {
    const { ctx, user, granted } = await setup(t, { resource: 'https://api.example.com' })
    const matching = await resourceServer(ctx, 'https://api.example.com')
    const elsewhere = await resourceServer(ctx, 'https://other.example.com')
    const stranger = await confidentialClient(ctx)
    t.equal(granted.claims.aud, 'https://api.example.com')

    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, matching.auth), accessTokenAnswer(ctx, granted, user.id), 'matching audience')
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, elsewhere.auth), INACTIVE, 'another audience')
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, stranger.auth), INACTIVE, 'an unrelated client')
    // Refresh tokens are the business of their own client only, resource server or not.
    for (const [name, caller] of [['matching audience', matching], ['another audience', elsewhere], ['an unrelated client', stranger]] as const) {
      assertAnswer(t, await introspect(ctx, { token: granted.refreshToken }, caller.auth), INACTIVE, `refresh token, ${name}`)
    }
  })

  t.test('an audience list: a resource server named anywhere in it sees the token', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await confidentialClient(ctx)
    const second = await resourceServer(ctx, 'https://b.example.com')
    const neither = await resourceServer(ctx, 'https://c.example.com')
    const key = ctx.keys.signingKey()
    const iat = Math.floor(ctx.clock.now() / 1000)
    const token = await new SignJWT({ client_id: client.client_id, scope: 'read' })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(ctx.config.issuer)
      .setSubject(client.client_id)
      .setAudience(['https://a.example.com', 'https://b.example.com'])
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .setJti('jti-list')
      .sign(key.privateKey)
    const expected = {
      active: true,
      scope: 'read',
      client_id: client.client_id,
      sub: client.client_id,
      exp: iat + 60,
      iat,
      iss: ctx.config.issuer,
      aud: ['https://a.example.com', 'https://b.example.com'],
      token_type: 'Bearer',
      jti: 'jti-list',
    }
    assertAnswer(t, await introspect(ctx, { token }, second.auth), expected, 'second audience')
    assertAnswer(t, await introspect(ctx, { token }, client.auth), expected, 'own client')
    assertAnswer(t, await introspect(ctx, { token }, neither.auth), INACTIVE, 'not in the list')
  })

  t.test('a client token (no user) has no auth_time, and sub is the client', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await confidentialClient(ctx)
    const signer = accessTokenSigner({ keys: ctx.keys, clock: ctx.clock, issuer: ctx.config.issuer, ttlSeconds: 300 })
    const issued = await signer.issue({ subject: client.client_id, clientId: client.client_id, audience: DEFAULT_AUDIENCE, scopes: [] })
    const res = await introspect(ctx, { token: issued.token, token_type_hint: 'access_token' }, client.auth)
    assertAnswer(t, res, {
      active: true,
      scope: '',
      client_id: client.client_id,
      sub: client.client_id,
      exp: issued.expiresAt / 1000,
      iat: issued.issuedAt / 1000,
      iss: ctx.config.issuer,
      aud: DEFAULT_AUDIENCE,
      token_type: 'Bearer',
      jti: issued.jti,
    })
  })

  t.test('a refresh-token family without a user has no sub', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await confidentialClient(ctx)
    const now = ctx.clock.now()
    const family = newFamily({ clientId: client.client_id, userId: null, scopes: ['read'], audience: DEFAULT_AUDIENCE, authTime: null, amr: null, beganWithOpenid: false, createdAt: now })
    const refresh = newRefreshToken(family, now, { ttlSeconds: 100, maxTtlSeconds: 1000 })
    const accessToken = { jti: 'jti-no-user', clientId: client.client_id, codeId: null, familyId: family.id, createdAt: now, expiresAt: now + 60_000 }
    await ctx.repos.refreshTokens.createFamily({ family, token: refresh.record, accessToken })
    assertAnswer(t, await introspect(ctx, { token: refresh.token }, client.auth), {
      active: true,
      scope: 'read',
      client_id: client.client_id,
      exp: Math.floor(now / 1000) + 100,
      iat: Math.floor(now / 1000),
      iss: ctx.config.issuer,
      aud: DEFAULT_AUDIENCE,
      token_type: 'refresh_token',
    })
  })

  t.test('an access token is inactive from its exp on, by the injected clock and without leeway', async (t) => {
    const { ctx, granted } = await setup(t)
    const exp = granted.claims.exp as number
    ctx.clock.advance(exp - Math.floor(ctx.clock.now() / 1000) - 1)
    t.equal((await introspect(ctx, { token: granted.accessToken }, granted.client.auth)).json().active, true, 'one second before exp')
    ctx.clock.advance(1)
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, granted.client.auth), INACTIVE, 'at exp')
  })

  t.test('a revoked access token is inactive; revoking it leaves the refresh token active', async (t) => {
    const { ctx, granted } = await setup(t)
    const rs = await resourceServer(ctx, DEFAULT_AUDIENCE)
    t.equal((await introspect(ctx, { token: granted.accessToken }, rs.auth)).json().active, true)
    t.equal((await revoke(ctx, { token: granted.accessToken }, granted.client.auth)).statusCode, 200)
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, granted.client.auth), INACTIVE, 'own client')
    assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, rs.auth), INACTIVE, 'resource server')
    t.equal((await introspect(ctx, { token: granted.refreshToken }, granted.client.auth)).json().active, true)
  })

  t.test('a refresh token is inactive once rotated, expired or its family revoked', async (t) => {
    t.test('rotated', async (t) => {
      const { ctx, granted } = await setup(t)
      await ctx.store.db.updateTable('refresh_tokens').set({ rotated_at: ctx.clock.now() }).where('token_hash', '=', sha256Hex(granted.refreshToken)).execute()
      assertAnswer(t, await introspect(ctx, { token: granted.refreshToken }, granted.client.auth), INACTIVE)
    })
    t.test('expired, exactly at its expiry', async (t) => {
      const { ctx, granted } = await setup(t)
      const record = await ctx.repos.refreshTokens.findByHash(sha256Hex(granted.refreshToken))
      ctx.clock.advance(((record?.expiresAt as number) - ctx.clock.now()) / 1000 - 1)
      t.equal((await introspect(ctx, { token: granted.refreshToken }, granted.client.auth)).json().active, true, 'a second before')
      ctx.clock.advance(1)
      assertAnswer(t, await introspect(ctx, { token: granted.refreshToken }, granted.client.auth), INACTIVE)
    })
    t.test('family revoked (as a replayed code or rotated token does)', async (t) => {
      const { ctx, granted } = await setup(t)
      t.equal(await ctx.repos.refreshTokens.revokeFamily(granted.familyId, ctx.clock.now()), true)
      assertAnswer(t, await introspect(ctx, { token: granted.refreshToken }, granted.client.auth), INACTIVE, 'refresh token')
      assertAnswer(t, await introspect(ctx, { token: granted.accessToken }, granted.client.auth), INACTIVE, 'its access token')
    })
  })

  t.test('forged, foreign, malformed and unknown tokens are inactive', async (t) => {
    const { ctx, granted } = await setup(t)
    const clientId = granted.client.client_id
    const foreign = await generateKeyPair('RS256')
    const ours = ctx.keys.signingKey()
    const iat = Math.floor(ctx.clock.now() / 1000)
    const sign = (options: { key?: CryptoKey | Uint8Array; alg?: string; header?: Record<string, unknown>; claims?: Record<string, unknown>; issuer?: string } = {}) =>
      new SignJWT({ client_id: clientId, scope: 'openid', sub: 'someone', aud: DEFAULT_AUDIENCE, jti: 'forged', iat, exp: iat + 600, iss: options.issuer ?? ctx.config.issuer, ...options.claims })
        .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: ours.kid, typ: 'at+jwt', ...options.header })
        .sign(options.key ?? ours.privateKey)
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

    // Each token is asked about by the client it names and by a resource server for its audience.
    const rs = await resourceServer(ctx, DEFAULT_AUDIENCE)
    // The control: a token built the same way, with nothing wrong, is active.
    const control = await sign()
    t.equal((await introspect(ctx, { token: control }, granted.client.auth)).json().active, true, 'control: active for its client')
    t.equal((await introspect(ctx, { token: control }, rs.auth)).json().active, true, 'control: active for the resource server')
    const appTyp = await introspect(ctx, { token: await sign({ header: { typ: 'application/at+jwt' } }) }, granted.client.auth)
    t.equal(appTyp.json().active, true, 'typ application/at+jwt is the same type (RFC 9068 §4)')

    const tokens: Record<string, string> = {
      'unknown opaque value': 'not-a-token-we-issued',
      'JWT-shaped garbage': 'a.b.c',
      'non-base64 segments': '!!!.@@@.###',
      'a very long value': 'x'.repeat(20_000),
      'foreign key with our kid': await sign({ key: foreign.privateKey }),
      'foreign key with an unknown kid': await sign({ key: foreign.privateKey, header: { kid: 'unknown' } }),
      'HS256 keyed with our public modulus': await sign({ key: new TextEncoder().encode(ctx.keys.jwks().keys[0]!.n), alg: 'HS256' }),
      'alg none': `${encode({ alg: 'none', typ: 'at+jwt' })}.${encode({ client_id: clientId, sub: 'x', aud: DEFAULT_AUDIENCE, jti: 'x', iat, exp: iat + 600, iss: ctx.config.issuer })}.`,
      'our key, typ JWT': await sign({ header: { typ: 'JWT' } }),
      'our key, no typ': await sign({ header: { typ: undefined } }),
      'our key, issuer with a trailing slash': await sign({ issuer: `${ctx.config.issuer}/` }),
      'our key, another issuer': await sign({ issuer: 'https://evil.example' }),
      'our key, no exp': await sign({ claims: { exp: undefined } }),
      'our key, no jti': await sign({ claims: { jti: undefined } }),
      'our key, numeric jti': await sign({ claims: { jti: 5 } }),
      'our key, numeric sub': await sign({ claims: { sub: 1 } }),
      'our key, no client_id': await sign({ claims: { client_id: undefined } }),
      'our key, numeric client_id': await sign({ claims: { client_id: 42 } }),
      'our key, numeric scope': await sign({ claims: { scope: 7 } }),
      'our key, empty audience list': await sign({ claims: { aud: [] } }),
      'our key, string auth_time': await sign({ claims: { auth_time: 'yesterday' } }),
      'our key, nbf in the future': await sign({ claims: { nbf: iat + 60 } }),
      'the access token with its signature cut': granted.accessToken.slice(0, granted.accessToken.lastIndexOf('.') + 1),
      'the access token with its payload swapped': (() => {
        const [header, , signature] = granted.accessToken.split('.')
        return `${header}.${encode({ ...granted.claims, scope: 'admin' })}.${signature}`
      })(),
      'the refresh token with a character changed': `${granted.refreshToken.slice(0, -1)}${granted.refreshToken.endsWith('A') ? 'B' : 'A'}`,
    }
    for (const [name, token] of Object.entries(tokens)) {
      for (const hint of ['access_token', 'refresh_token']) {
        assertAnswer(t, await introspect(ctx, { token, token_type_hint: hint }, granted.client.auth), INACTIVE, `${name} (${hint})`)
      }
      assertAnswer(t, await introspect(ctx, { token }, rs.auth), INACTIVE, `${name} (resource server)`)
    }
  })

  /** A key store whose published keys the test changes, as key rotation does at runtime. */
  function mutableKeys(signing: KeyStore) {
    let published: PublicJwk[] | Error = signing.jwks().keys
    const jwks = () => {
      if (published instanceof Error) throw published
      return { keys: published }
    }
    const keys: KeyStore = { signingKey: () => signing.signingKey(), accessTokenKey: () => signing.signingKey(), ensureKey: async () => undefined, jwks, list: () => signing.list(), reload: async () => {}, refresh: async () => {}, watch: () => async () => {} }
    return { keys, publish: (next: PublicJwk[] | Error) => (published = next) }
  }

  t.test('the verifier follows the published key set as it changes', async (t) => {
    const first = await fixtureKeyStore()
    const second = await fixtureKeyStore('second')
    const { keys, publish } = mutableKeys(first)
    const store = await dialectOf(t).open(t)
    const clock = new FakeClock()
    const config = loadConfig({ ISSUER: 'http://localhost:3000' })
    const app = await buildApp(config, { store, keys, clock })
    t.teardown(() => app.close())
    const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
    const client = await confidentialClient(ctx)
    const issue = (signer: KeyStore) =>
      accessTokenSigner({ keys: signer, clock, issuer: config.issuer, ttlSeconds: 300 }).issue({ subject: client.client_id, clientId: client.client_id, audience: DEFAULT_AUDIENCE, scopes: [] })
    const active = async (token: string) => (await introspect(ctx, { token }, client.auth)).json().active
    const fromFirst = (await issue(first)).token
    const fromSecond = (await issue(second)).token

    t.equal(await active(fromFirst), true, 'a published key verifies')
    t.equal(await active(fromSecond), false, 'an unpublished key does not')
    publish([...first.jwks().keys, ...second.jwks().keys])
    t.equal(await active(fromSecond), true, 'a newly published key verifies at once')
    t.equal(await active(fromFirst), true, 'and the old one still does')
    publish(second.jwks().keys)
    t.equal(await active(fromFirst), false, 'a key no longer published stops verifying')
    t.equal(await active(fromSecond), true)

    // A failing key store is a bug, not an inactive token: 500 without detail.
    publish(new Error('keys unreadable'))
    const broken = await introspect(ctx, { token: fromSecond }, client.auth)
    assertError(t, broken, 500, 'server_error')
    t.same(broken.json(), { error: 'server_error', error_description: 'internal server error' })
  })

  t.test('client authentication: required, and public clients cannot introspect', async (t) => {
    const { ctx, granted } = await setup(t)
    const { client_id: id, client_secret: secret } = granted.client
    const publicClient = await createClient(ctx, { isPublic: true })
    const token = granted.accessToken
    const cases: Array<[string, Record<string, string>, Headers]> = [
      ['public client with its client_id', { token, client_id: publicClient.client_id }, {}],
      ['public client sending a secret', { token, client_id: publicClient.client_id, client_secret: 'x' }, {}],
      ['no client authentication', { token }, {}],
      ['wrong secret (basic)', { token }, { authorization: basic(id, `${secret}x`) }],
      ['wrong secret (post)', { token, client_id: id, client_secret: 'nope' }, {}],
      ['confidential client without its secret', { token, client_id: id }, {}],
      ['unknown client', { token }, { authorization: basic('lk_unknown', secret) }],
      ['malformed Basic header', { token }, { authorization: 'Basic !!!' }],
      ['the token as Bearer credentials', { token }, { authorization: `Bearer ${token}` }],
    ]
    for (const [name, form, headers] of cases) {
      const res = await introspect(ctx, form, headers)
      assertError(t, res, 401, 'invalid_client', name)
      t.equal(res.headers['www-authenticate'], 'Basic realm="latchkey"', name)
      t.notOk('active' in res.json(), `${name}: nothing about the token`)
    }
    assertError(t, await introspect(ctx, { token, client_secret: secret }, granted.client.auth), 400, 'invalid_request', 'two methods')
  })

  t.test('request errors: missing token, duplicates, wrong content type, wrong method', async (t) => {
    const { ctx, granted } = await setup(t)
    const { auth } = granted.client
    const missing = await introspect(ctx, {}, auth)
    assertError(t, missing, 400, 'invalid_request', 'no token')
    t.match(missing.json().error_description, /token is required/)
    assertError(t, await introspect(ctx, { token: '' }, auth), 400, 'invalid_request', 'empty token')

    const dup = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, ...auth }, payload: `token=${granted.accessToken}&token=${granted.accessToken}` })
    assertError(t, dup, 400, 'invalid_request', 'token twice')
    const dupHint = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, ...auth }, payload: `token=${granted.accessToken}&token_type_hint=access_token&token_type_hint=access_token` })
    assertError(t, dupHint, 400, 'invalid_request', 'hint twice')
    t.match(dupHint.json().error_description, /token_type_hint/)

    const json = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: auth, payload: { token: granted.accessToken } })
    assertError(t, json, 415, 'invalid_request', 'JSON body')
    const emptyJson = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...auth, 'content-type': 'application/json' }, payload: '' })
    assertError(t, emptyJson, 415, 'invalid_request', 'empty JSON body')
    const multipart = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--' })
    assertError(t, multipart, 415, 'invalid_request', 'multipart body')
    const lookalike = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...auth, 'content-type': 'application/x-www-form-urlencodedx' }, payload: `token=${granted.accessToken}` })
    assertError(t, lookalike, 415, 'invalid_request', 'a look-alike content type')
    const charset = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, payload: `token=${granted.accessToken}` })
    t.equal(charset.json().active, true, 'a charset parameter is fine')

    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await ctx.app.inject({ method, url: `/introspect?token=${granted.accessToken}`, headers: auth })
      assertError(t, res, 405, 'invalid_request', method)
      t.equal(res.headers.allow, 'POST', method)
    }
  })

  t.test('/introspect shares the limit on failed client authentications of /token', async (t) => {
    const store = await dialectOf(t).open(t)
    const app = await buildApp(loadConfig({ LIMIT_CLIENT_AUTH_FAILURES: '1' }), {
      store,
      keys: await fixtureKeyStore(),
      clock: new FakeClock(),
    })
    t.teardown(() => app.close())
    const attempt = () => app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, authorization: basic('lk_x', 'guess') }, payload: 'token=x' })
    t.equal((await attempt()).statusCode, 401)
    const limited = await attempt()
    t.equal(limited.statusCode, 429)
    t.equal(limited.json().error, 'invalid_request')
    t.equal(limited.headers['cache-control'], 'no-store')
    t.equal(limited.headers['retry-after'], '900')
  })

  t.test("a removed client's tokens are inactive to a resource server, recorded or not", async (t) => {
    const ctx = await buildTestApp(t)
    const server = await resourceServer(ctx, 'https://api.example.com')
    const client = await confidentialClient(ctx, { grants: ['client_credentials'], resources: ['https://api.example.com'], redirectUris: [] })
    const res = await exchange(ctx.app, { grant_type: 'client_credentials', resource: 'https://api.example.com' }, client.auth)
    t.equal(res.statusCode, 200)
    const token = res.json().access_token as string
    t.equal((await introspect(ctx, { token }, server.auth)).json().active, true, 'active while the client exists')
    t.equal(await ctx.repos.accessTokens.findByJti((await verifyAccessToken(ctx, token)).payload.jti as string), undefined, 'a client credentials token is not recorded')
    await ctx.repos.clients.remove(client.client_id, ctx.clock.now())
    assertAnswer(t, await introspect(ctx, { token }, server.auth), { active: false })
  })
})
