import t, { type Test } from 'tap'
import { addScope } from '../../src/admin/scopes.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { dialects, type DialectCase } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode, verifyAccessToken } from '../helpers/oauth.js'

interface Setup {
  ctx: TestApp
  user: { id: string }
  client: { client_id: string; client_secret?: string; redirectUri: string }
  auth: Record<string, string>
  tokens: { access_token: string; refresh_token: string; scope: string }
}

/** A confidential client with scopes `openid read write`, and the tokens of one code exchange. */
async function setup(
  t: Test,
  options: { env?: Record<string, string>; dialect?: DialectCase; scope?: string; resource?: string; logs?: string[] } = {},
): Promise<Setup> {
  const logger = options.logs && {
    level: 'info',
    stream: logLines(options.logs),
  }
  const ctx = await buildTestApp(t, { env: options.env ?? {}, ...(options.dialect ? { dialect: options.dialect } : {}), ...(logger ? { logger } : {}) })
  const deps = { scopes: ctx.repos.scopes }
  await addScope(deps, { name: 'read', description: 'Read' })
  await addScope(deps, { name: 'write', description: 'Write' })
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid read write', ...(options.resource ? { resources: [options.resource] } : {}) })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const { code, verifier } = await obtainCode(ctx, client, { scope: options.scope ?? 'openid read write', resource: options.resource })
  const res = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, auth)
  if (res.statusCode !== 200) throw new Error(res.body)
  return { ctx, user, client, auth, tokens: res.json() }
}

function refresh(s: Pick<Setup, 'ctx' | 'auth'>, token: string, extra: Record<string, string> = {}, auth = s.auth) {
  return exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: token, ...extra }, auth)
}

function assertError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string; error_description: string } }, error: string, description?: RegExp) {
  t.equal(res.statusCode, 400, `${error}: status`)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, error)
  if (description) t.match(res.json().error_description, description)
}

async function familyOf(ctx: TestApp, refreshToken: string) {
  const token = await ctx.repos.refreshTokens.findByHash(sha256Hex(refreshToken))
  return ctx.repos.refreshTokens.findFamily(token?.familyId as string)
}

async function jtiOf(ctx: TestApp, accessToken: string): Promise<string> {
  return (await verifyAccessToken(ctx, accessToken)).payload.jti as string
}

t.test('a refresh returns a new access token and a new refresh token; the old one stops working', async (t) => {
  const s = await setup(t)
  const first = await refresh(s, s.tokens.refresh_token)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store')
  const body = first.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.scope, 'openid read write', 'no scope means the family scope')
  t.not(body.refresh_token, s.tokens.refresh_token)
  t.not(body.access_token, s.tokens.access_token)
  const { payload } = await verifyAccessToken(s.ctx, body.access_token)
  t.equal(payload.sub, s.user.id)
  t.equal(payload.client_id, s.client.client_id)
  t.equal(payload.scope, 'openid read write')
  t.equal(payload.aud, 'http://localhost:4000')
  t.equal(payload.auth_time, Math.floor(s.ctx.clock.now() / 1000), 'auth_time stays that of the sign-in')
  const family = await familyOf(s.ctx, s.tokens.refresh_token)
  t.equal((await familyOf(s.ctx, body.refresh_token))?.id, family?.id, 'the new token joins the same family')
  const record = await s.ctx.repos.accessTokens.findByJti(payload.jti as string)
  t.match(record, { familyId: family?.id, codeId: null, clientId: s.client.client_id }, 'the new jti is recorded against the family')
  t.ok((await s.ctx.repos.refreshTokens.findByHash(sha256Hex(s.tokens.refresh_token)))?.rotatedAt, 'the old token is marked rotated')

  const second = await refresh(s, body.refresh_token)
  t.equal(second.statusCode, 200, 'the new token works, once')
})

t.test('reuse of a rotated token revokes the whole family, its newest token and its access tokens, and is logged', async (t) => {
  const logs: string[] = []
  const s = await setup(t, { logs })
  const rotated = await refresh(s, s.tokens.refresh_token)
  const newest = rotated.json()
  const reuse = await refresh(s, s.tokens.refresh_token)
  assertError(t, reuse, 'invalid_grant', /already been used/)

  const family = await familyOf(s.ctx, s.tokens.refresh_token)
  t.equal(family?.revokedAt, s.ctx.clock.now(), 'family revoked')
  assertError(t, await refresh(s, newest.refresh_token), 'invalid_grant', /revoked/)
  t.equal(await s.ctx.repos.accessTokens.isRevoked(await jtiOf(s.ctx, s.tokens.access_token)), true, 'the first access token is revoked')
  t.equal(await s.ctx.repos.accessTokens.isRevoked(await jtiOf(s.ctx, newest.access_token)), true, 'the newest access token is revoked')

  const events = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === 'refresh_token_reuse')
  t.equal(events.length, 1, 'one security event')
  t.match(events[0], { level: 30, audit: true, familyId: family?.id, clientId: s.client.client_id, userId: s.user.id, familyRevoked: true })
  const all = logs.join('\n')
  for (const secret of [s.tokens.refresh_token, newest.refresh_token, newest.access_token, s.client.client_secret as string]) {
    t.notOk(all.includes(secret), 'no token or secret in the log')
  }
})

t.test('a requested scope narrows the access token only; a wider one is invalid_scope', async (t) => {
  const s = await setup(t)
  const narrowed = await refresh(s, s.tokens.refresh_token, { scope: 'read' })
  t.equal(narrowed.statusCode, 200)
  t.equal(narrowed.json().scope, 'read')
  t.equal((await verifyAccessToken(s.ctx, narrowed.json().access_token)).payload.scope, 'read')
  const family = await familyOf(s.ctx, narrowed.json().refresh_token)
  t.same(family?.scopes, ['openid', 'read', 'write'], 'the family keeps its scope')
  const full = await refresh(s, narrowed.json().refresh_token)
  t.equal(full.json().scope, 'openid read write', 'the new refresh token keeps the family scope (RFC 6749 §6)')

  const current = full.json().refresh_token
  assertError(t, await refresh(s, current, { scope: 'read admin' }), 'invalid_scope', /admin/)
  assertError(t, await refresh(s, current, { scope: 'profile' }), 'invalid_scope', /profile/)
  assertError(t, await refresh(s, current, { scope: 'read "bad' }), 'invalid_scope', /malformed/)
  t.equal((await refresh(s, current)).statusCode, 200, 'a refused scope leaves the token usable')
})

t.test('a family started with fewer scopes cannot widen to the client’s other scopes', async (t) => {
  const s = await setup(t, { scope: 'read' })
  assertError(t, await refresh(s, s.tokens.refresh_token, { scope: 'read write' }), 'invalid_scope', /write/)
  const ok = await refresh(s, s.tokens.refresh_token)
  t.equal(ok.json().scope, 'read')
})

t.test('resource may only repeat the family’s audience', async (t) => {
  const s = await setup(t, { resource: 'https://api.example.com' })
  assertError(t, await refresh(s, s.tokens.refresh_token, { resource: 'https://other.example.com' }), 'invalid_target')
  const same = await refresh(s, s.tokens.refresh_token, { resource: 'https://api.example.com' })
  t.equal(same.statusCode, 200)
  t.equal((await verifyAccessToken(s.ctx, same.json().access_token)).payload.aud, 'https://api.example.com')
  const omitted = await refresh(s, same.json().refresh_token)
  t.equal((await verifyAccessToken(s.ctx, omitted.json().access_token)).payload.aud, 'https://api.example.com', 'no resource keeps the family audience')
})

t.test('expiry slides by REFRESH_TOKEN_TTL from the last use, never past REFRESH_TOKEN_MAX_TTL from the start', async (t) => {
  const s = await setup(t, { env: { REFRESH_TOKEN_TTL: '100', REFRESH_TOKEN_MAX_TTL: '250' } })
  const start = s.ctx.clock.now()
  s.ctx.clock.advance(90)
  const a = await refresh(s, s.tokens.refresh_token)
  t.equal(a.statusCode, 200, 'used at 90 s: within the 100 s since issue')
  t.equal((await s.ctx.repos.refreshTokens.findByHash(sha256Hex(a.json().refresh_token)))?.expiresAt, start + 190_000, 'slides to 90 + 100')
  s.ctx.clock.advance(90)
  const b = await refresh(s, a.json().refresh_token)
  t.equal(b.statusCode, 200, 'used at 180 s: 90 s after the last use')
  t.equal((await s.ctx.repos.refreshTokens.findByHash(sha256Hex(b.json().refresh_token)))?.expiresAt, start + 250_000, 'capped at 250 s from the start')
  s.ctx.clock.advance(69)
  const c = await refresh(s, b.json().refresh_token)
  t.equal(c.statusCode, 200, 'used at 249 s')
  s.ctx.clock.advance(1)
  assertError(t, await refresh(s, c.json().refresh_token), 'invalid_grant', /expired/)
  t.equal((await familyOf(s.ctx, c.json().refresh_token))?.revokedAt, null, 'expiry revokes nothing')
})

t.test('a token unused for REFRESH_TOKEN_TTL expires', async (t) => {
  const s = await setup(t, { env: { REFRESH_TOKEN_TTL: '100' } })
  s.ctx.clock.advance(99)
  const ok = await refresh(s, s.tokens.refresh_token)
  t.equal(ok.statusCode, 200)
  s.ctx.clock.advance(100)
  assertError(t, await refresh(s, ok.json().refresh_token), 'invalid_grant', /expired/)
})

t.test('a refresh token works only for its own client; another client revokes nothing', async (t) => {
  const s = await setup(t)
  const other = await createClient(s.ctx)
  const otherAuth = { authorization: basic(other.client_id, other.client_secret as string) }
  assertError(t, await refresh(s, s.tokens.refresh_token, {}, otherAuth), 'invalid_grant', /another client/)
  t.equal((await familyOf(s.ctx, s.tokens.refresh_token))?.revokedAt, null)
  t.equal((await refresh(s, s.tokens.refresh_token)).statusCode, 200, 'the owner still refreshes')
  const wrongSecret = await refresh(s, s.tokens.refresh_token, {}, { authorization: basic(s.client.client_id, 'wrong') })
  t.equal(wrongSecret.statusCode, 401)
  t.equal(wrongSecret.json().error, 'invalid_client')
})

t.test('errors: missing, unknown, revoked family, client not registered for the grant', async (t) => {
  const s = await setup(t)
  assertError(t, await exchange(s.ctx.app, { grant_type: 'refresh_token' }, s.auth), 'invalid_request', /refresh_token is required/)
  assertError(t, await refresh(s, 'not-a-token'), 'invalid_grant', /unknown/)
  const family = await familyOf(s.ctx, s.tokens.refresh_token)
  await s.ctx.repos.refreshTokens.revokeFamily(family?.id as string, s.ctx.clock.now())
  assertError(t, await refresh(s, s.tokens.refresh_token), 'invalid_grant', /revoked/)

  const codeOnly = await createClient(s.ctx, { grants: ['authorization_code'] })
  const res = await refresh(s, s.tokens.refresh_token, {}, { authorization: basic(codeOnly.client_id, codeOnly.client_secret as string) })
  assertError(t, res, 'unauthorized_client')
  const dup = await s.ctx.app.inject({
    method: 'POST',
    url: '/token',
    headers: { ...s.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=refresh_token&refresh_token=${s.tokens.refresh_token}&refresh_token=x`,
  })
  assertError(t, dup, 'invalid_request', /refresh_token/)
})

t.test('a public client refreshes with its client_id alone', async (t) => {
  const ctx = await buildTestApp(t)
  await createUser(ctx)
  const client = await createClient(ctx, { isPublic: true, redirectUris: ['http://127.0.0.1:8080/cb'] })
  const { code, verifier } = await obtainCode(ctx, client)
  const tokens = (await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.client_id })).json()
  const res = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id })
  t.equal(res.statusCode, 200)
  t.ok(res.json().refresh_token)
  const reuse = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id })
  assertError(t, reuse, 'invalid_grant', /already been used/)
})

t.test('a JSON body refreshes under the same rules; a duplicated JSON key is invalid_request', async (t) => {
  const s = await setup(t)
  const json = (body: string, headers: Record<string, string> = s.auth) =>
    s.ctx.app.inject({ method: 'POST', url: '/token', headers: { ...headers, 'content-type': 'application/json' }, payload: body })
  const dup = await json(`{"grant_type":"refresh_token","refresh_token":"${s.tokens.refresh_token}","scope":"read","scope":"write"}`)
  assertError(t, dup, 'invalid_request', /scope/)
  const body = {
    grant_type: 'refresh_token',
    refresh_token: s.tokens.refresh_token,
    client_id: s.client.client_id,
    client_secret: s.client.client_secret as string,
    scope: 'read',
  }
  const ok = await json(JSON.stringify(body), {})
  t.equal(ok.statusCode, 200, 'client_id and client_secret in the JSON body')
  t.equal(ok.json().scope, 'read')
  const basicAndSecret = await json(JSON.stringify({ ...body, refresh_token: ok.json().refresh_token }))
  assertError(t, basicAndSecret, 'invalid_request', /one client authentication method/)
  const basicAndId = await json(JSON.stringify({ grant_type: 'refresh_token', refresh_token: ok.json().refresh_token, client_id: s.client.client_id }))
  t.equal(basicAndId.statusCode, 200, 'Basic plus the same client_id in the body')
  const wide = await json(JSON.stringify({ grant_type: 'refresh_token', refresh_token: basicAndId.json().refresh_token, scope: 'admin' }))
  assertError(t, wide, 'invalid_scope')
  const number = await json(`{"grant_type":"refresh_token","refresh_token":1}`)
  assertError(t, number, 'invalid_request', /must be a string/)
})

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: 20 concurrent refreshes of one token: exactly one succeeds and the family is revoked`, async (t) => {
    const s = await setup(t, { dialect })
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(s, s.tokens.refresh_token)))
    const ok = results.filter((r) => r.statusCode === 200)
    t.equal(ok.length, 1, 'exactly one 200')
    const failed = results.filter((r) => r.statusCode !== 200)
    t.equal(failed.length, 19)
    t.ok(failed.every((r) => r.statusCode === 400 && r.json().error === 'invalid_grant'), 'the rest are invalid_grant')
    const family = await familyOf(s.ctx, s.tokens.refresh_token)
    t.ok(family?.revokedAt, 'the family is revoked')
    const winner = ok[0]?.json() as { access_token: string; refresh_token: string }
    assertError(t, await refresh(s, winner.refresh_token), 'invalid_grant', /revoked/)
    t.equal(await s.ctx.repos.accessTokens.isRevoked(await jtiOf(s.ctx, winner.access_token)), true, "the winner's access token is revoked")
    const rows = await s.ctx.store.db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', family?.id as string).execute()
    t.equal(rows.length, 2, 'one successor was stored, no more')
  })

  t.test(`${dialect.name}: rotation, reuse and revocation at the repository`, async (t) => {
    const s = await setup(t, { dialect })
    const repo = s.ctx.repos.refreshTokens
    const presented = await repo.findByHash(sha256Hex(s.tokens.refresh_token))
    const family = await repo.findFamily(presented?.familyId as string)
    const now = s.ctx.clock.now()
    const next = (hash: string, jti: string) => ({
      presentedHash: sha256Hex(s.tokens.refresh_token),
      token: { tokenHash: hash, familyId: family?.id as string, createdAt: now, expiresAt: now + 1000, rotatedAt: null },
      accessToken: { jti, clientId: s.client.client_id, codeId: null, familyId: family?.id as string, createdAt: now, expiresAt: now + 1000 },
      now,
      userId: family?.userId ?? null,
    })
    // A revoked family: nothing written, the presented token is not even marked rotated.
    await s.ctx.store.db.updateTable('refresh_token_families').set({ revoked_at: now }).where('id', '=', family?.id as string).execute()
    t.equal(await repo.rotate(next('a'.repeat(64), 'jti-a')), 'revoked')
    t.equal((await repo.findByHash(sha256Hex(s.tokens.refresh_token)))?.rotatedAt, null, 'rolled back')
    t.equal(await repo.findByHash('a'.repeat(64)), undefined)
    t.equal(await s.ctx.repos.accessTokens.findByJti('jti-a'), undefined)
    await s.ctx.store.db.updateTable('refresh_token_families').set({ revoked_at: null }).where('id', '=', family?.id as string).execute()

    t.equal(await repo.rotate(next('b'.repeat(64), 'jti-b')), 'rotated')
    t.equal(await repo.rotate(next('c'.repeat(64), 'jti-c')), 'reused')
    t.equal(await repo.findByHash('c'.repeat(64)), undefined, 'a reuse writes nothing')
    t.equal(await repo.revokeFamily(family?.id as string, now), true)
    t.equal(await repo.revokeFamily(family?.id as string, now + 5), false, 'already revoked')
    t.equal((await repo.findFamily(family?.id as string))?.revokedAt, now, 'the first revocation time stays')
    t.equal(await s.ctx.repos.accessTokens.isRevoked('jti-b'), true)
  })
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: NUL characters and space-only scopes are 4xx, never 500`, async (t) => {
    const s = await setup(t, { dialect })
    const nulId = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: s.tokens.refresh_token, client_id: '\u0000' })
    t.equal(nulId.statusCode, 400, `${dialect.name}: NUL in client_id`)
    t.equal(nulId.json().error, 'invalid_request')
    const nulBasic = await refresh(s, s.tokens.refresh_token, {}, { authorization: `Basic ${Buffer.from('\u0000:x').toString('base64')}` })
    t.equal(nulBasic.statusCode, 401, `${dialect.name}: NUL in Basic credentials`)
    const nulJson = await s.ctx.app.inject({
      method: 'POST',
      url: '/token',
      headers: { ...s.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ grant_type: 'refresh_token', refresh_token: s.tokens.refresh_token, resource: 'https://api/\u0000' }),
    })
    t.equal(nulJson.statusCode, 400, `${dialect.name}: NUL in a JSON value`)
    assertError(t, await refresh(s, s.tokens.refresh_token, { scope: ' ' }), 'invalid_scope', /malformed/)
    t.equal((await refresh(s, s.tokens.refresh_token)).statusCode, 200, 'the token survived the refused requests')
  })
}
