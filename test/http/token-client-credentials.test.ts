import t, { type Test } from 'tap'
import { addScope } from '../../src/admin/scopes.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, exchange, verifyAccessToken } from '../helpers/oauth.js'

async function setup(t: Test, input: { grants?: string[]; scope?: string; resources?: string[] } = {}) {
  const ctx = await buildTestApp(t)
  for (const name of ['source:r', 'source:w']) await addScope({ scopes: ctx.repos.scopes }, { name, description: name })
  const client = await createClient(ctx, {
    grants: input.grants ?? ['client_credentials'],
    scope: input.scope ?? 'openid email source:r source:w',
    resources: input.resources,
  })
  const secret = client.client_secret as string
  return { ctx, client, secret, auth: { authorization: basic(client.client_id, secret) } }
}

function assertTokenError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string; error_description: string } }, error: string, description: RegExp) {
  t.equal(res.statusCode, 400)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, error)
  t.match(res.json().error_description, description)
}

async function rowCount(ctx: TestApp, table: 'access_tokens' | 'refresh_token_families' | 'refresh_tokens'): Promise<number> {
  return (await ctx.store.db.selectFrom(table).selectAll().execute()).length
}

eachDialect(t, (t) => {
  t.test('issues a client token: sub is the client_id, no auth_time, registered scopes less the user scopes', async (t) => {
    const { ctx, client, auth } = await setup(t)
    const res = await exchange(ctx.app, { grant_type: 'client_credentials' }, auth)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'never a refresh token')
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 3600)
    t.equal(body.scope, 'source:r source:w')
    const { payload, protectedHeader } = await verifyAccessToken(ctx, body.access_token)
    t.equal(protectedHeader.typ, 'at+jwt')
    t.equal(payload.sub, client.client_id)
    t.match(payload.sub, /^lk_/, 'a client_id, which no user id (a UUID) can equal')
    t.equal(payload.client_id, client.client_id)
    t.equal(payload.aud, 'http://localhost:4000', 'DEFAULT_AUDIENCE')
    t.equal(payload.scope, 'source:r source:w')
    t.equal(payload.iat, Math.floor(ctx.clock.now() / 1000))
    t.equal(payload.exp, Math.floor(ctx.clock.now() / 1000) + 3600)
    t.notOk('auth_time' in payload, 'no auth_time: no user authenticated')
    t.equal(await rowCount(ctx, 'access_tokens'), 0, 'nothing stored')
    t.equal(await rowCount(ctx, 'refresh_token_families'), 0)
  })

  t.test('a requested scope within the registered ones is granted as asked', async (t) => {
    const { ctx, auth } = await setup(t)
    const res = await exchange(ctx.app, { grant_type: 'client_credentials', scope: 'source:w' }, auth)
    t.equal(res.statusCode, 200)
    t.equal(res.json().scope, 'source:w')
    t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.scope, 'source:w')
  })

  t.test('a client registered with only user scopes gets an empty scope', async (t) => {
    const { ctx, auth } = await setup(t, { scope: 'openid profile' })
    const res = await exchange(ctx.app, { grant_type: 'client_credentials' }, auth)
    t.equal(res.statusCode, 200)
    t.equal(res.json().scope, '', 'the granted scope is always in the response')
    t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.scope, '')
  })

  t.test('scopes outside the registered ones, user scopes and malformed scopes are invalid_scope', async (t) => {
    const { ctx, auth } = await setup(t)
    const cases: Array<[string, RegExp]> = [
      ['source:r admin', /not allowed for this client: admin/],
      ['openid', /not available with this grant: openid/],
      ['source:r email', /not available with this grant: email/],
      ['offline_access', /not allowed for this client: offline_access/],
      ['source:r "x"', /malformed/],
    ]
    for (const [scope, description] of cases) {
      assertTokenError(t, await exchange(ctx.app, { grant_type: 'client_credentials', scope }, auth), 'invalid_scope', description)
    }
  })

  t.test('resource becomes the audience; a relative one, one with a fragment or two are invalid_target', async (t) => {
    const { ctx, auth } = await setup(t, { resources: ['https://api.example.com/v1'] })
    const res = await exchange(ctx.app, { grant_type: 'client_credentials', resource: 'https://api.example.com/v1' }, auth)
    t.equal(res.statusCode, 200)
    t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.aud, 'https://api.example.com/v1')
    for (const resource of ['/v1', 'https://api.example.com/#x', 'not a uri']) {
      assertTokenError(t, await exchange(ctx.app, { grant_type: 'client_credentials', resource }, auth), 'invalid_target', /absolute URI/)
    }
    const twice = await ctx.app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth },
      payload: 'grant_type=client_credentials&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example',
    })
    assertTokenError(t, twice, 'invalid_target', /only one resource/)
  })

  t.test('a client not registered for client_credentials is unauthorized_client', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await createClient(ctx)
    const res = await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.client_secret as string) })
    assertTokenError(t, res, 'unauthorized_client', /not registered for the client_credentials grant/)
  })

  t.test('a public client is refused even if its record names the grant', async (t) => {
    const ctx = await buildTestApp(t)
    await ctx.repos.clients.create({
      id: 'lk_public_cc',
      name: 'Odd',
      secretHash: null,
      isPublic: true,
      redirectUris: [],
      postLogoutRedirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: [],
      audience: null,
      resources: [],
      createdAt: ctx.clock.now(),
    })
    const res = await exchange(ctx.app, { grant_type: 'client_credentials', client_id: 'lk_public_cc' })
    assertTokenError(t, res, 'unauthorized_client', /confidential clients only/)
  })

  t.test('a wrong secret is invalid_client', async (t) => {
    const { ctx, client } = await setup(t)
    const res = await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, 'wrong') })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_client')
  })

  t.test('client_secret_post and a JSON body work like Basic and a form', async (t) => {
    const { ctx, client, secret } = await setup(t, { resources: ['https://api.example.com'] })
    const post = await exchange(ctx.app, { grant_type: 'client_credentials', scope: 'source:r', client_id: client.client_id, client_secret: secret })
    t.equal(post.statusCode, 200)
    t.equal(post.json().scope, 'source:r')
    const json = await ctx.app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ grant_type: 'client_credentials', scope: 'source:r', resource: 'https://api.example.com', client_id: client.client_id, client_secret: secret }),
    })
    t.equal(json.statusCode, 200)
    t.equal(json.headers['cache-control'], 'no-store')
    t.equal(json.json().scope, 'source:r')
    const { payload } = await verifyAccessToken(ctx, json.json().access_token)
    t.equal(payload.sub, client.client_id)
    t.equal(payload.aud, 'https://api.example.com')
  })

  t.test('no refresh token even for a client also registered for refresh_token', async (t) => {
    const { ctx, auth } = await setup(t, { grants: ['client_credentials', 'refresh_token'] })
    const res = await exchange(ctx.app, { grant_type: 'client_credentials' }, auth)
    t.equal(res.statusCode, 200)
    t.notOk('refresh_token' in res.json())
    t.equal(await rowCount(ctx, 'refresh_token_families'), 0)
    t.equal(await rowCount(ctx, 'refresh_tokens'), 0)
  })
})
