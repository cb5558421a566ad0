import type { KeyObject } from 'node:crypto'
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { accessTokenSigner } from '../../src/tokens/access-token.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialects, sqliteCase, type DialectCase } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { basic, createClient, createUser, exchange, obtainCode, verifyAccessToken } from '../helpers/oauth.js'

type Response = Awaited<ReturnType<TestApp['app']['inject']>>
type Headers = Record<string, string>

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

function post(ctx: TestApp, url: string, form: Record<string, string>, headers: Headers = {}) {
  return ctx.app.inject({ method: 'POST', url, headers: { ...FORM, ...headers }, payload: new URLSearchParams(form).toString() })
}

const revoke = (ctx: TestApp, form: Record<string, string>, headers: Headers = {}) => post(ctx, '/revoke', form, headers)
const introspect = (ctx: TestApp, form: Record<string, string>, headers: Headers = {}) => post(ctx, '/introspect', form, headers)

interface Granted {
  client: { client_id: string; client_secret?: string; redirectUri: string }
  auth: Headers
  accessToken: string
  refreshToken: string
  jti: string
  familyId: string
}

/** A code flow for a new client: its credentials, tokens, the access token's jti and family. */
async function grant(ctx: TestApp, options: { isPublic?: boolean } = {}): Promise<Granted> {
  const client = await createClient(ctx, { isPublic: options.isPublic === true })
  const auth: Headers = client.client_secret === undefined ? {} : { authorization: basic(client.client_id, client.client_secret) }
  const { code, verifier } = await obtainCode(ctx, client)
  const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }
  if (options.isPublic) form.client_id = client.client_id
  const res = await exchange(ctx.app, form, auth)
  if (res.statusCode !== 200) throw new Error(`exchange failed: ${res.body}`)
  const { access_token: accessToken, refresh_token: refreshToken } = res.json()
  const { payload } = await verifyAccessToken(ctx, accessToken)
  const jti = payload.jti as string
  const record = await ctx.repos.accessTokens.findByJti(jti)
  return { client, auth, accessToken, refreshToken, jti, familyId: record?.familyId as string }
}

async function setup(t: Test, dialect: DialectCase = sqliteCase) {
  const ctx = await buildTestApp(t, { dialect })
  await createUser(ctx)
  return { ctx, granted: await grant(ctx) }
}

function assertRevoked(t: Test, res: Response, name = '') {
  t.equal(res.statusCode, 200, name)
  t.equal(res.body, '', name)
  t.equal(res.headers['cache-control'], 'no-store', name)
  t.equal(res.headers['pragma'], 'no-cache', name)
}

function assertError(t: Test, res: Response, status: number, error: string, name = '') {
  t.equal(res.statusCode, status, name)
  t.equal(res.headers['cache-control'], 'no-store', name)
  t.match(res.headers['content-type'], /^application\/json/, name)
  t.match(res.json(), { error, error_description: String }, name)
}

async function revokedJtis(ctx: TestApp) {
  return ctx.store.db.selectFrom('revoked_jtis').selectAll().execute()
}

async function familyRevokedAt(ctx: TestApp, familyId: string) {
  return (await ctx.repos.refreshTokens.findFamily(familyId))?.revokedAt
}

/** Nothing revoked at all: the family is live and no jti is listed. */
async function assertNothingRevoked(t: Test, ctx: TestApp, granted: Granted, name?: string) {
  t.equal(await familyRevokedAt(ctx, granted.familyId), null, `${name ?? ''} family untouched`)
  t.same(await revokedJtis(ctx), [], `${name ?? ''} no jti revoked`)
}

t.test('revocation, then introspection, on every dialect', async (t) => {
  for (const dialect of dialects(t)) {
    t.test(dialect.name, async (t) => {
      t.test('a refresh token revokes its family and the access tokens issued from it', async (t) => {
        const { ctx, granted } = await setup(t, dialect)
        const before = await introspect(ctx, { token: granted.refreshToken }, granted.auth)
        t.equal(before.json().active, true, 'active before')

        assertRevoked(t, await revoke(ctx, { token: granted.refreshToken }, granted.auth))
        t.equal(await familyRevokedAt(ctx, granted.familyId), ctx.clock.now(), 'family revoked now')
        const stored = await ctx.repos.refreshTokens.findByHash(sha256Hex(granted.refreshToken))
        t.equal(stored?.familyId, granted.familyId, 'the token still belongs to the revoked family')
        t.equal(await ctx.repos.accessTokens.isRevoked(granted.jti), true, 'its access token is revoked')

        for (const token of [granted.refreshToken, granted.accessToken]) {
          const res = await introspect(ctx, { token }, granted.auth)
          t.equal(res.statusCode, 200)
          t.same(res.json(), { active: false })
        }

        ctx.clock.advance(5)
        assertRevoked(t, await revoke(ctx, { token: granted.refreshToken }, granted.auth), 'again')
        t.equal(await familyRevokedAt(ctx, granted.familyId), ctx.clock.now() - 5000, 'the first revocation stands')
      })

      t.test('an access token is listed by jti until it expires; again is a no-op', async (t) => {
        const { ctx, granted } = await setup(t, dialect)
        const { payload } = await verifyAccessToken(ctx, granted.accessToken)
        assertRevoked(t, await revoke(ctx, { token: granted.accessToken, token_type_hint: 'access_token' }, granted.auth))
        const rows = await revokedJtis(ctx)
        t.equal(rows.length, 1)
        t.equal(rows[0]?.jti, granted.jti)
        t.equal(Number(rows[0]?.revoked_at), ctx.clock.now())
        t.equal(Number(rows[0]?.expires_at), (payload.exp as number) * 1000, 'kept until the token expires')
        t.equal(await familyRevokedAt(ctx, granted.familyId), null, 'the refresh-token family lives on')

        const res = await introspect(ctx, { token: granted.accessToken }, granted.auth)
        t.same(res.json(), { active: false })
        t.equal((await introspect(ctx, { token: granted.refreshToken }, granted.auth)).json().active, true)

        ctx.clock.advance(1)
        assertRevoked(t, await revoke(ctx, { token: granted.accessToken }, granted.auth), 'already revoked')
        t.same(await revokedJtis(ctx), rows, 'unchanged')
      })
    })
  }
})

t.test('token_type_hint orders the lookups; a wrong or unknown hint still finds the token', async (t) => {
  const cases: Array<[string, 'refreshToken' | 'accessToken', string | undefined]> = [
    ['refresh token, no hint', 'refreshToken', undefined],
    ['refresh token, hinted as access token', 'refreshToken', 'access_token'],
    ['refresh token, unknown hint', 'refreshToken', 'id_token'],
    ['access token, no hint', 'accessToken', undefined],
    ['access token, hinted as refresh token', 'accessToken', 'refresh_token'],
    ['access token, unknown hint', 'accessToken', 'nonsense'],
  ]
  for (const [name, which, hint] of cases) {
    const { ctx, granted } = await setup(t)
    const form: Record<string, string> = { token: granted[which] }
    if (hint !== undefined) form.token_type_hint = hint
    assertRevoked(t, await revoke(ctx, form, granted.auth), name)
    if (which === 'refreshToken') t.equal(await familyRevokedAt(ctx, granted.familyId), ctx.clock.now(), `${name}: family revoked`)
    else t.equal(await familyRevokedAt(ctx, granted.familyId), null, `${name}: family untouched`)
    t.equal(await ctx.repos.accessTokens.isRevoked(granted.jti), true, `${name}: access token revoked`)
  }
})

t.test('a confidential client may authenticate with client_secret_post; unknown parameters are ignored', async (t) => {
  const { ctx, granted } = await setup(t)
  const form = { token: granted.refreshToken, client_id: granted.client.client_id, client_secret: granted.client.client_secret as string, foo: 'bar', resource: 'https://x.example' }
  assertRevoked(t, await revoke(ctx, form))
  t.equal(await familyRevokedAt(ctx, granted.familyId), ctx.clock.now())
})

t.test('a public client revokes its own refresh token with its client_id alone (RFC 7009 §2.1)', async (t) => {
  const ctx = await buildTestApp(t)
  await createUser(ctx)
  const granted = await grant(ctx, { isPublic: true })
  t.ok(granted.refreshToken, 'the public client has a refresh token')
  assertRevoked(t, await revoke(ctx, { token: granted.refreshToken, client_id: granted.client.client_id }))
  t.equal(await familyRevokedAt(ctx, granted.familyId), ctx.clock.now())
  t.equal(await ctx.repos.accessTokens.isRevoked(granted.jti), true)
})

t.test("another client's tokens answer 200 and change nothing", async (t) => {
  const ctx = await buildTestApp(t)
  await createUser(ctx)
  const victim = await grant(ctx)
  const attacker = await grant(ctx)
  const publicAttacker = await createClient(ctx, { isPublic: true })
  for (const token of [victim.refreshToken, victim.accessToken]) {
    for (const hint of ['access_token', 'refresh_token']) {
      assertRevoked(t, await revoke(ctx, { token, token_type_hint: hint }, attacker.auth), `confidential, ${hint}`)
      assertRevoked(t, await revoke(ctx, { token, token_type_hint: hint, client_id: publicAttacker.client_id }), `public, ${hint}`)
    }
  }
  await assertNothingRevoked(t, ctx, victim, 'victim:')
  t.equal(await familyRevokedAt(ctx, attacker.familyId), null)
  t.equal((await introspect(ctx, { token: victim.accessToken }, victim.auth)).json().active, true)
  t.equal((await introspect(ctx, { token: victim.refreshToken }, victim.auth)).json().active, true)
})

t.test('unknown, malformed, forged and expired tokens answer 200 and change nothing', async (t) => {
  const { ctx, granted } = await setup(t)
  const foreign = await generateKeyPair('RS256')
  const { kid } = ctx.keys.signingKey()
  const claims = { client_id: granted.client.client_id, scope: 'openid', jti: 'forged-jti' }
  const sign = (key: CryptoKey | KeyObject | Uint8Array, alg: string, typ = 'at+jwt', issuer = ctx.config.issuer) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid, typ })
      .setIssuer(issuer)
      .setSubject('someone')
      .setAudience('http://localhost:4000')
      .setIssuedAt(Math.floor(ctx.clock.now() / 1000))
      .setExpirationTime(Math.floor(ctx.clock.now() / 1000) + 600)
      .sign(key)
  const ours = ctx.keys.signingKey().privateKey
  const tokens: Record<string, string> = {
    unknown: 'not-a-token-we-issued',
    'JWT-shaped garbage': 'a.b.c',
    'bad base64': '!!!.@@@.###',
    'foreign key, our kid': await sign(foreign.privateKey, 'RS256'),
    'HS256 keyed with our public modulus': await sign(new TextEncoder().encode(ctx.keys.jwks().keys[0]!.n), 'HS256'),
    'alg none': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, iss: ctx.config.issuer, exp: 9e9 })).toString('base64url')}.`,
    'our key, typ JWT': await sign(ours, 'RS256', 'JWT'),
    'our key, another issuer': await sign(ours, 'RS256', 'at+jwt', 'https://evil.example'),
    'the refresh token with a character changed': `${granted.refreshToken.slice(0, -1)}${granted.refreshToken.endsWith('A') ? 'B' : 'A'}`,
    'the access token with its signature cut': granted.accessToken.slice(0, granted.accessToken.lastIndexOf('.') + 1),
    'a very long value': 'x'.repeat(20_000),
  }
  for (const [name, token] of Object.entries(tokens)) {
    for (const hint of ['access_token', 'refresh_token']) {
      assertRevoked(t, await revoke(ctx, { token, token_type_hint: hint }, granted.auth), `${name} (${hint})`)
    }
  }
  await assertNothingRevoked(t, ctx, granted)

  // An expired access token needs nothing: it is refused everywhere already.
  const { payload } = await verifyAccessToken(ctx, granted.accessToken)
  ctx.clock.advance((payload.exp as number) - Math.floor(ctx.clock.now() / 1000))
  assertRevoked(t, await revoke(ctx, { token: granted.accessToken }, granted.auth), 'expired access token')
  t.same(await revokedJtis(ctx), [], 'no jti recorded for an expired token')
})

t.test('an access token of this client issued without a recorded jti is still revoked', async (t) => {
  const { ctx, granted } = await setup(t)
  // As client credentials will issue: no refresh-token family, sub = client_id.
  const signer = accessTokenSigner({ keys: ctx.keys, clock: ctx.clock, issuer: ctx.config.issuer, ttlSeconds: 300 })
  const issued = await signer.issue({ subject: granted.client.client_id, clientId: granted.client.client_id, audience: 'https://api.example.com', scopes: [] })
  assertRevoked(t, await revoke(ctx, { token: issued.token }, granted.auth))
  t.same(
    (await revokedJtis(ctx)).map((r) => ({ jti: r.jti, expires: Number(r.expires_at) })),
    [{ jti: issued.jti, expires: issued.expiresAt }],
  )
})

t.test('client authentication is required and failures are 401 invalid_client with WWW-Authenticate', async (t) => {
  const { ctx, granted } = await setup(t)
  const { client_id: id, client_secret: secret } = granted.client as { client_id: string; client_secret: string }
  const publicClient = await createClient(ctx, { isPublic: true })
  const token = granted.refreshToken
  const cases: Array<[string, Record<string, string>, Headers]> = [
    ['no client authentication', { token }, {}],
    ['wrong secret (basic)', { token }, { authorization: basic(id, `${secret}x`) }],
    ['wrong secret (post)', { token, client_id: id, client_secret: 'nope' }, {}],
    ['confidential client without its secret', { token, client_id: id }, {}],
    ['unknown client', { token }, { authorization: basic('lk_unknown', secret) }],
    ['public client sending a secret', { token, client_id: publicClient.client_id, client_secret: 'x' }, {}],
    ['malformed Basic header', { token }, { authorization: 'Basic !!!' }],
    ['another scheme', { token }, { authorization: `Bearer ${granted.accessToken}` }],
  ]
  for (const [name, form, headers] of cases) {
    const res = await revoke(ctx, form, headers)
    assertError(t, res, 401, 'invalid_client', name)
    t.equal(res.headers['www-authenticate'], 'Basic realm="latchkey"', name)
  }
  const both = await revoke(ctx, { token, client_secret: secret }, granted.auth)
  assertError(t, both, 400, 'invalid_request', 'two authentication methods')
  await assertNothingRevoked(t, ctx, granted, 'after failed authentication:')
})

t.test('request errors: missing token, duplicates, wrong content type, wrong method', async (t) => {
  const { ctx, granted } = await setup(t)
  assertError(t, await revoke(ctx, {}, granted.auth), 400, 'invalid_request', 'no token')
  const empty = await revoke(ctx, { token: '' }, granted.auth)
  assertError(t, empty, 400, 'invalid_request', 'an empty token is absent')
  t.match(empty.json().error_description, /token is required/)

  const dup = await ctx.app.inject({
    method: 'POST',
    url: '/revoke',
    headers: { ...FORM, ...granted.auth },
    payload: `token=${encodeURIComponent(granted.refreshToken)}&token=${encodeURIComponent(granted.accessToken)}`,
  })
  assertError(t, dup, 400, 'invalid_request', 'token sent twice')
  t.match(dup.json().error_description, /token/)

  const json = await ctx.app.inject({ method: 'POST', url: '/revoke', headers: granted.auth, payload: { token: granted.refreshToken } })
  assertError(t, json, 415, 'invalid_request', 'JSON body')
  const text = await ctx.app.inject({ method: 'POST', url: '/revoke', headers: { ...granted.auth, 'content-type': 'text/plain' }, payload: `token=${granted.refreshToken}` })
  assertError(t, text, 415, 'invalid_request', 'text body')
  const big = await revoke(ctx, { token: 'x'.repeat(70 * 1024) }, granted.auth)
  assertError(t, big, 413, 'invalid_request', 'oversized body')

  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
    const res = await ctx.app.inject({ method, url: `/revoke?token=${encodeURIComponent(granted.refreshToken)}`, headers: granted.auth })
    assertError(t, res, 405, 'invalid_request', method)
    t.equal(res.headers.allow, 'POST', method)
  }
  await assertNothingRevoked(t, ctx, granted, 'after request errors:')
})

t.test('/revoke shares the limit on failed client authentications of /token', async (t) => {
  const store = await sqliteCase.open(t)
  const app = await buildApp(loadConfig({ LIMIT_CLIENT_AUTH_FAILURES: '2' }), {
    store,
    keys: await fixtureKeyStore(),
    clock: new FakeClock(),
  })
  t.teardown(() => app.close())
  const attempt = () => app.inject({ method: 'POST', url: '/revoke', headers: { ...FORM, authorization: basic('lk_x', 'guess') }, payload: 'token=x' })
  t.equal((await attempt()).statusCode, 401)
  t.equal((await attempt()).statusCode, 401)
  const limited = await attempt()
  t.equal(limited.statusCode, 429)
  t.same(limited.json(), { error: 'invalid_request', error_description: 'too many failed client authentications from this address; try again later' })
  t.equal(limited.headers['cache-control'], 'no-store')
  t.equal(limited.headers['retry-after'], '900')
})

t.test('tokens and secrets never reach the logs', async (t) => {
  const lines: string[] = []
  const stream = logLines(lines)
  const store = await sqliteCase.open(t)
  const keys = await fixtureKeyStore()
  const clock = new FakeClock()
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const app = await buildApp(config, { store, keys, clock, logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  const { repositories } = await import('../../src/storage/repositories.js')
  const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
  await createUser(ctx)
  const granted = await grant(ctx)
  const other = await grant(ctx)
  await revoke(ctx, { token: granted.accessToken }, granted.auth)
  await revoke(ctx, { token: granted.refreshToken }, granted.auth)
  await revoke(ctx, { token: other.refreshToken }, { authorization: basic(other.client.client_id, 'wrong') })
  await revoke(ctx, { token: other.accessToken }, granted.auth)
  const log = lines.join('')
  const revoked = lines.map((line) => JSON.parse(line)).filter((line) => line.event === 'token_revoked')
  t.match(revoked, [
    { audit: true, kind: 'access_token', clientId: granted.client.client_id, jti: String },
    { audit: true, kind: 'refresh_token', clientId: granted.client.client_id, familyId: String },
  ], 'revocations are recorded, with ids only')
  t.equal(revoked.length, 2, "another client's token revokes nothing and records nothing")
  for (const secret of [granted.accessToken, granted.refreshToken, other.accessToken, other.refreshToken, granted.client.client_secret as string]) {
    t.notOk(log.includes(secret), 'a token or secret in the logs')
  }
})
