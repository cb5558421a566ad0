import t, { type Test } from 'tap'
import { addScope } from '../../src/admin/scopes.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { dialects, type DialectCase } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, PASSWORD, verifyAccessToken } from '../helpers/oauth.js'

async function setup(t: Test, input: { grants?: string[]; scope?: string; resources?: string[]; dialect?: DialectCase; env?: Record<string, string> } = {}) {
  const ctx = await buildTestApp(t, { ...(input.dialect ? { dialect: input.dialect } : {}), ...(input.env ? { env: input.env } : {}) })
  await addScope({ scopes: ctx.repos.scopes }, { name: 'source:r', description: 'Read sources' })
  const user = await createUser(ctx)
  const client = await createClient(ctx, { grants: input.grants ?? ['password', 'refresh_token'], scope: input.scope ?? 'openid email source:r', resources: input.resources })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const form = { grant_type: 'password', username: 'alice', password: PASSWORD }
  return { ctx, user, client, auth, form }
}

function assertTokenError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string; error_description: string } }, error: string, description: RegExp) {
  t.equal(res.statusCode, 400)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, error)
  t.match(res.json().error_description, description)
}

async function rows(ctx: TestApp, table: 'access_tokens' | 'refresh_token_families' | 'refresh_tokens' | 'login_attempts') {
  return ctx.store.db.selectFrom(table).selectAll().execute()
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: issues a user token and a refresh token stored hashed in a new family`, async (t) => {
    const { ctx, user, client, auth, form } = await setup(t, { dialect })
    const now = ctx.clock.now()
    const res = await exchange(ctx.app, form, auth)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(body.token_type, 'Bearer')
    t.equal(body.scope, 'openid email source:r', 'no scope means the client registered scopes')
    const { payload } = await verifyAccessToken(ctx, body.access_token)
    t.equal(payload.sub, user.id)
    t.match(payload.sub, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a user id is a UUID')
    t.equal(payload.client_id, client.client_id)
    t.equal(payload.aud, 'http://localhost:4000')
    t.equal(payload.scope, 'openid email source:r')
    t.equal(payload.auth_time, Math.floor(now / 1000), 'the user authenticated now')

    const record = await ctx.repos.accessTokens.findByJti(payload.jti as string)
    t.match(record, { clientId: client.client_id, codeId: null, familyId: String, createdAt: now, expiresAt: now + 3600_000 })
    const family = await ctx.repos.refreshTokens.findFamily(record?.familyId as string)
    t.same(family, {
      id: record?.familyId,
      clientId: client.client_id,
      userId: user.id,
      scopes: ['openid', 'email', 'source:r'],
      audience: 'http://localhost:4000',
      authTime: now,
      amr: ['pwd'],
      beganWithOpenid: false,
      createdAt: now,
      revokedAt: null,
    })
    const refresh = await ctx.repos.refreshTokens.findByHash(sha256Hex(body.refresh_token))
    t.same(refresh, { tokenHash: sha256Hex(body.refresh_token), familyId: family?.id, createdAt: now, expiresAt: now + 30 * 86400_000, rotatedAt: null })
    const stored = await rows(ctx, 'refresh_tokens')
    t.equal(stored.length, 1)
    t.notOk(JSON.stringify(stored).includes(body.refresh_token), 'the refresh token itself is not stored')
    t.same(await rows(ctx, 'login_attempts'), [], 'a success leaves no count behind')
    t.equal(body.id_token, undefined, 'the password grant is not OpenID Connect: no ID token')
    const refreshed = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: body.refresh_token }, auth)
    t.equal(refreshed.statusCode, 200)
    t.equal(refreshed.json().id_token, undefined, 'nor on its refreshes')
  })
}

t.test('REFRESH_TOKEN_TTL sets the refresh token lifetime', async (t) => {
  const { ctx, auth, form } = await setup(t, { env: { REFRESH_TOKEN_TTL: '50', REFRESH_TOKEN_MAX_TTL: '100' } })
  const res = await exchange(ctx.app, form, auth)
  const refresh = await ctx.repos.refreshTokens.findByHash(sha256Hex(res.json().refresh_token))
  t.equal(refresh?.expiresAt, ctx.clock.now() + 50_000)
})

t.test('without the refresh_token grant: an access token only, and nothing stored', async (t) => {
  const { ctx, user, auth, form } = await setup(t, { grants: ['password'] })
  const res = await exchange(ctx.app, form, auth)
  t.equal(res.statusCode, 200)
  t.same(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
  t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.sub, user.id)
  t.same(await rows(ctx, 'access_tokens'), [])
  t.same(await rows(ctx, 'refresh_token_families'), [])
})

t.test('a requested scope and resource narrow the token and bind the family', async (t) => {
  const { ctx, auth, form } = await setup(t, { resources: ['https://api.example.com/'] })
  const res = await exchange(ctx.app, { ...form, scope: 'source:r', resource: 'https://api.example.com/' }, auth)
  t.equal(res.statusCode, 200)
  t.equal(res.json().scope, 'source:r')
  const { payload } = await verifyAccessToken(ctx, res.json().access_token)
  t.equal(payload.scope, 'source:r')
  t.equal(payload.aud, 'https://api.example.com/')
  const record = await ctx.repos.accessTokens.findByJti(payload.jti as string)
  const family = await ctx.repos.refreshTokens.findFamily(record?.familyId as string)
  t.match(family, { scopes: ['source:r'], audience: 'https://api.example.com/', beganWithOpenid: false })
})

t.test('username and password are required', async (t) => {
  const { ctx, auth } = await setup(t)
  assertTokenError(t, await exchange(ctx.app, { grant_type: 'password', password: PASSWORD }, auth), 'invalid_request', /username is required/)
  assertTokenError(t, await exchange(ctx.app, { grant_type: 'password', username: '', password: PASSWORD }, auth), 'invalid_request', /username is required/)
  assertTokenError(t, await exchange(ctx.app, { grant_type: 'password', username: 'alice' }, auth), 'invalid_request', /password is required/)
  assertTokenError(t, await exchange(ctx.app, { grant_type: 'password', username: 'alice', password: '' }, auth), 'invalid_request', /password is required/)
})

t.test('scopes outside the registered ones, or malformed, are invalid_scope', async (t) => {
  const { ctx, auth, form } = await setup(t)
  assertTokenError(t, await exchange(ctx.app, { ...form, scope: 'openid profile' }, auth), 'invalid_scope', /not allowed for this client: profile/)
  assertTokenError(t, await exchange(ctx.app, { ...form, scope: 'openid "x"' }, auth), 'invalid_scope', /malformed/)
})

t.test('a relative resource or one with a fragment is invalid_target', async (t) => {
  const { ctx, auth, form } = await setup(t)
  assertTokenError(t, await exchange(ctx.app, { ...form, resource: 'api' }, auth), 'invalid_target', /absolute URI/)
  assertTokenError(t, await exchange(ctx.app, { ...form, resource: 'https://api.example.com/#f' }, auth), 'invalid_target', /absolute URI/)
})

t.test('a malformed request costs no attempt against the username', async (t) => {
  const { ctx, auth, form } = await setup(t)
  for (let i = 0; i < 6; i++) await exchange(ctx.app, { ...form, password: 'wrong', scope: 'nope' }, auth)
  t.same(await rows(ctx, 'login_attempts'), [])
  t.equal((await exchange(ctx.app, form, auth)).statusCode, 200)
})

t.test('a wrong password and an unknown username get the identical answer', async (t) => {
  const { ctx, auth, form } = await setup(t)
  const wrongPassword = await exchange(ctx.app, { ...form, password: 'not the password' }, auth)
  const unknownUser = await exchange(ctx.app, { ...form, username: 'mallory' }, auth)
  const wrongCase = await exchange(ctx.app, { ...form, username: 'Alice' }, auth)
  for (const res of [wrongPassword, unknownUser, wrongCase]) {
    t.equal(res.statusCode, 400)
    t.equal(res.headers['cache-control'], 'no-store')
    t.same(res.json(), { error: 'invalid_grant', error_description: 'wrong username or password' })
  }
  t.equal(wrongPassword.body, unknownUser.body)
})

t.test('clients not registered for the password grant are unauthorized_client', async (t) => {
  const { ctx, form } = await setup(t)
  const byDefault = await createClient(ctx)
  const service = await createClient(ctx, { grants: ['client_credentials'] })
  for (const other of [byDefault, service]) {
    const res = await exchange(ctx.app, form, { authorization: basic(other.client_id, other.client_secret as string) })
    assertTokenError(t, res, 'unauthorized_client', /not registered for the password grant/)
  }
  t.same(await rows(ctx, 'login_attempts'), [], 'no password was checked')
})

t.test('a public client is refused even if its record names the grant', async (t) => {
  const { ctx, form } = await setup(t)
  await ctx.repos.clients.create({
    id: 'lk_public_password',
    name: 'Odd',
    secretHash: null,
    isPublic: true,
    redirectUris: [],
    postLogoutRedirectUris: [],
    grantTypes: ['password'],
    scopes: [],
    audience: null,
    resources: [],
    createdAt: ctx.clock.now(),
  })
  const res = await exchange(ctx.app, { ...form, client_id: 'lk_public_password' })
  assertTokenError(t, res, 'unauthorized_client', /confidential clients only/)
})

t.test('a JSON body works like the form', async (t) => {
  const { ctx, user, auth } = await setup(t)
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/json', ...auth },
    payload: JSON.stringify({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid' }),
  })
  t.equal(res.statusCode, 200)
  t.equal(res.json().scope, 'openid')
  t.ok(res.json().refresh_token)
  t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.sub, user.id)
  const wrong = await ctx.app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/json', ...auth },
    payload: JSON.stringify({ grant_type: 'password', username: 'alice', password: 'nope' }),
  })
  t.same(wrong.json(), { error: 'invalid_grant', error_description: 'wrong username or password' })
})

/** A confirmed authenticator-app secret stored for the user: a second factor (its value plays no part here). */
async function giveSecondFactor(ctx: TestApp, userId: string) {
  await ctx.store.db.insertInto('totp_factors').values({ user_id: userId, secret: 'not-a-real-secret', created_at: 0, confirmed_at: 0, last_step: null }).execute()
}

t.test('a user with a second factor is refused, and only once the password is right', async (t) => {
  const { ctx, user, auth, form } = await setup(t)
  await giveSecondFactor(ctx, user.id)
  const refused = await exchange(ctx.app, form, auth)
  assertTokenError(t, refused, 'invalid_grant', /second factor/)
  t.same(await rows(ctx, 'refresh_token_families'), [], 'nothing issued')
  const wrong = await exchange(ctx.app, { ...form, password: 'not the password' }, auth)
  assertTokenError(t, wrong, 'invalid_grant', /^wrong username or password$/)
  // An unconfirmed enrolment is no second factor yet.
  await ctx.store.db.updateTable('totp_factors').set({ confirmed_at: null }).where('user_id', '=', user.id).execute()
  t.equal((await exchange(ctx.app, form, auth)).statusCode, 200, 'an enrolment not yet confirmed does not count')
})

t.test('every user is refused under MFA_REQUIRED=all, none under MFA_REQUIRED=off without a factor', async (t) => {
  const all = await setup(t, { env: { MFA_REQUIRED: 'all' } })
  assertTokenError(t, await exchange(all.ctx.app, all.form, all.auth), 'invalid_grant', /second factor/)
  const off = await setup(t, { env: { MFA_REQUIRED: 'off' } })
  t.equal((await exchange(off.ctx.app, off.form, off.auth)).statusCode, 200)
})

t.test('a client registered with --require-mfa is refused the password grant', async (t) => {
  const { ctx } = await setup(t)
  const strict = await createClient(ctx, { grants: ['password'], scope: 'openid', requireMfa: true })
  const res = await exchange(ctx.app, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic(strict.client_id, strict.client_secret as string) })
  assertTokenError(t, res, 'invalid_grant', /second factor/)
})

t.test('a password-grant token says amr ["pwd"] and acr pwd, and its refresh keeps them', async (t) => {
  const { ctx, auth, form } = await setup(t)
  const res = await exchange(ctx.app, form, auth)
  t.equal(res.statusCode, 200)
  const body = res.json() as { access_token: string; refresh_token: string }
  t.same([(await verifyAccessToken(ctx, body.access_token)).payload.amr, (await verifyAccessToken(ctx, body.access_token)).payload.acr], [['pwd'], 'urn:latchkey:acr:pwd'])
  const refreshed = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: body.refresh_token }, auth)
  t.equal(refreshed.statusCode, 200)
  t.match((await verifyAccessToken(ctx, (refreshed.json() as { access_token: string }).access_token)).payload, { amr: ['pwd'], acr: 'urn:latchkey:acr:pwd' })
})
