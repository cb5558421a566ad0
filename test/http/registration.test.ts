import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, exchange } from '../helpers/oauth.js'
import { initialToken, manage, PUBLIC_APP, register } from '../helpers/registration.js'

// RFC 7591 registration and RFC 7592 management at /register: each mode, each validation
// error, the registration access token, and the limit per address.

const countClients = async (ctx: TestApp) => (await ctx.store.db.selectFrom('clients').select('id').execute()).length

function assertBearerRefusal(t: Test, res: LightMyRequestResponse, error: string | undefined, name: string) {
  t.equal(res.statusCode, 401, name)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  const challenge = res.headers['www-authenticate'] as string
  t.match(challenge, /^Bearer realm="latchkey"/, `${name}: a Bearer challenge`)
  if (error === undefined) {
    t.notMatch(challenge, /error=/, `${name}: no error code without credentials (RFC 6750 §3.1)`)
    t.notOk(res.json().error, name)
  } else {
    t.match(challenge, `error="${error}"`, name)
    t.equal(res.json().error, error, name)
  }
}

t.test('REGISTRATION=off (the default): no /register, and discovery names no registration_endpoint', async (t) => {
  const ctx = await buildTestApp(t)
  const res = await register(ctx, PUBLIC_APP)
  t.equal(res.statusCode, 404)
  t.equal(res.json().error, 'invalid_request')
  t.equal((await manage(ctx, 'GET', 'lk_x', 'token')).statusCode, 404)
  const discovery = (await ctx.app.inject('/.well-known/openid-configuration')).json()
  t.notOk('registration_endpoint' in discovery)
  t.equal(await countClients(ctx), 0)
})

eachDialect(t, (t) => {
  t.test('open: a public client registers, then reads, updates and deletes its registration with its registration access token', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    const discovery = (await ctx.app.inject('/.well-known/oauth-authorization-server')).json()
    t.equal(discovery.registration_endpoint, 'http://localhost:3000/register')

    const res = await register(ctx, { ...PUBLIC_APP, logo_uri: 'https://agent.example.com/logo.png', software_id: 'x' })
    t.equal(res.statusCode, 201)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.match(body, {
      client_id: /^lk_[A-Za-z0-9_-]{22}$/,
      client_id_issued_at: Math.floor(ctx.clock.now() / 1000),
      client_name: 'Photo Agent',
      redirect_uris: ['https://agent.example.com/cb'],
      post_logout_redirect_uris: [],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'openid profile email offline_access',
      registration_access_token: /^[A-Za-z0-9_-]{43}$/,
    })
    t.equal(body.registration_client_uri, `http://localhost:3000/register/${body.client_id}`)
    t.notOk('client_secret' in body, 'a public client has no secret')
    t.notOk('client_secret_expires_at' in body)
    t.notOk('logo_uri' in body || 'software_id' in body, 'unknown fields are ignored, not echoed')

    const stored = await ctx.repos.clients.findById(body.client_id)
    t.equal(stored?.selfRegistered, true)
    t.equal(stored?.isPublic, true)
    t.equal(stored?.registrationTokenHash, sha256Hex(body.registration_access_token), 'the registration access token is stored as its hash only')
    const raw = JSON.stringify(await ctx.store.db.selectFrom('clients').selectAll().execute())
    t.notOk(raw.includes(body.registration_access_token), 'never in plain text')

    // RFC 7592 §2.1: read, with the token; a new one replaces it.
    const read = await manage(ctx, 'GET', body.client_id, body.registration_access_token)
    t.equal(read.statusCode, 200)
    t.equal(read.headers['cache-control'], 'no-store')
    t.match(read.json(), { client_id: body.client_id, client_name: 'Photo Agent', token_endpoint_auth_method: 'none', registration_client_uri: body.registration_client_uri })
    const token2 = read.json().registration_access_token as string
    t.not(token2, body.registration_access_token, 'a new registration access token')
    assertBearerRefusal(t, await manage(ctx, 'GET', body.client_id, body.registration_access_token), 'invalid_token', 'the old token stopped working')

    // RFC 7592 §2.2: the body replaces the metadata; an omitted field goes back to its default.
    const update = { client_id: body.client_id, client_name: 'Photo Agent 2', redirect_uris: ['http://127.0.0.1/cb', 'com.example.agent:/cb'], scope: 'openid' }
    const put = await manage(ctx, 'PUT', body.client_id, token2, update)
    t.equal(put.statusCode, 200, put.body)
    t.match(put.json(), { client_name: 'Photo Agent 2', redirect_uris: update.redirect_uris, grant_types: ['authorization_code'], scope: 'openid' })
    const token3 = put.json().registration_access_token as string
    t.match(await ctx.repos.clients.findById(body.client_id), { name: 'Photo Agent 2', redirectUris: update.redirect_uris, grantTypes: ['authorization_code'], scopes: ['openid'] })

    // RFC 7592 §2.3.
    const del = await manage(ctx, 'DELETE', body.client_id, token3)
    t.equal(del.statusCode, 204)
    t.equal(del.body, '')
    t.equal(await ctx.repos.clients.findById(body.client_id), undefined, 'the client is gone')
    assertBearerRefusal(t, await manage(ctx, 'GET', body.client_id, token3), 'invalid_token', 'a deleted client')
  })

  t.test('token: an initial access token is required, spent once, and admits confidential clients', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'token' } })
    const service = { client_name: 'Reports job', grant_types: ['client_credentials'], scope: '' }
    assertBearerRefusal(t, await register(ctx, service), undefined, 'no initial access token')
    assertBearerRefusal(t, await register(ctx, service, { authorization: 'Bearer wrong' }), 'invalid_token', 'an unknown token')
    assertBearerRefusal(t, await register(ctx, service, { authorization: basic('a', 'b') }), undefined, 'Basic credentials are none')
    const expired = await initialToken(ctx, '60')
    ctx.clock.advance(60)
    assertBearerRefusal(t, await register(ctx, service, { authorization: `Bearer ${expired}` }), 'invalid_token', 'an expired token')
    t.equal(await countClients(ctx), 0)

    const token = await initialToken(ctx)
    const bad = await register(ctx, { ...service, grant_types: ['password'] }, { authorization: `Bearer ${token}` })
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().error, 'invalid_client_metadata', 'never the password grant')
    const res = await register(ctx, service, { authorization: `Bearer ${token}` })
    t.equal(res.statusCode, 201, 'a refused registration did not spend the token')
    const body = res.json()
    t.match(body, { token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], response_types: [], client_secret: /^[A-Za-z0-9_-]{43}$/, client_secret_expires_at: 0 })
    assertBearerRefusal(t, await register(ctx, service, { authorization: `Bearer ${token}` }), 'invalid_token', 'a used token')

    const tokens = await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(body.client_id, body.client_secret) })
    t.equal(tokens.statusCode, 200, 'the secret works at /token')
    const read = await manage(ctx, 'GET', body.client_id, body.registration_access_token)
    t.notOk('client_secret' in read.json(), 'the secret is never shown again')
    t.equal(read.json().client_secret_expires_at, 0)

    // A public client too, with client_secret_post for a second confidential one.
    const pub = await register(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'none' }, { authorization: `Bearer ${await initialToken(ctx)}` })
    t.equal(pub.statusCode, 201)
    t.notOk('client_secret' in pub.json())
    const post = await register(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'client_secret_post' }, { authorization: `Bearer ${await initialToken(ctx)}` })
    t.equal(post.json().token_endpoint_auth_method, 'client_secret_post')
    const postRead = await manage(ctx, 'GET', post.json().client_id, post.json().registration_access_token)
    t.equal(postRead.json().token_endpoint_auth_method, 'client_secret_post', 'the registered method is echoed on read')
    const publicService = await register(ctx, { ...service, token_endpoint_auth_method: 'none' }, { authorization: `Bearer ${await initialToken(ctx)}` })
    t.match(publicService.json(), { error: 'invalid_client_metadata', error_description: /client_credentials needs a confidential client/ }, 'OAuth 2.1 §4.2')
    const unnamed = await register(ctx, { grant_types: ['client_credentials'] }, { authorization: `Bearer ${await initialToken(ctx)}` })
    t.equal(unnamed.json().client_name, 'Unnamed client', 'no name and no redirect URI')
  })
})

t.test('every metadata field is validated with RFC 7591 errors, and a refusal writes nothing', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open', REGISTRATION_SCOPES: 'openid profile reports:read', LIMIT_REGISTRATIONS_PER_ADDRESS: '1000' } })
  const cases: Array<[string, unknown, 'invalid_redirect_uri' | 'invalid_client_metadata', RegExp]> = [
    ['an array body', [PUBLIC_APP], 'invalid_client_metadata', /JSON object/],
    ['a string body', '"x"', 'invalid_client_metadata', /JSON object/],
    ['no redirect_uris for authorization_code', { client_name: 'x' }, 'invalid_redirect_uri', /required/],
    ['redirect_uris not an array', { redirect_uris: 'https://a.example.com/cb' }, 'invalid_client_metadata', /array of strings/],
    ['a redirect URI that is not a string', { redirect_uris: [42] }, 'invalid_client_metadata', /array of strings/],
    ['http on a public host', { redirect_uris: ['http://agent.example.com/cb'] }, 'invalid_redirect_uri', /https/],
    ['a fragment', { redirect_uris: ['https://agent.example.com/cb#x'] }, 'invalid_redirect_uri', /fragment/],
    ['a wildcard', { redirect_uris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri', /wildcard/],
    ['javascript:', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', /refused scheme/],
    ['a private-use scheme without a dot', { redirect_uris: ['myapp:/cb'] }, 'invalid_redirect_uri', /refused scheme/],
    ['a relative URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri', /absolute/],
    ['user information', { redirect_uris: ['https://u:p@agent.example.com/cb'] }, 'invalid_redirect_uri', /user information/],
    ['a control character', { redirect_uris: ['https://agent.example.com/c\nb'] }, 'invalid_redirect_uri', /control/],
    ['too long a URI', { redirect_uris: [`https://agent.example.com/${'a'.repeat(2000)}`] }, 'invalid_redirect_uri', /longer/],
    ['too many URIs', { redirect_uris: Array.from({ length: 21 }, (_, i) => `https://agent.example.com/${i}`) }, 'invalid_redirect_uri', /at most 20/],
    ['a bad post-logout URI', { ...PUBLIC_APP, post_logout_redirect_uris: ['http://agent.example.com/'] }, 'invalid_client_metadata', /post_logout_redirect_uris/],
    ['an unknown auth method', { ...PUBLIC_APP, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata', /must be one of/],
    ['an auth method that is not a string', { ...PUBLIC_APP, token_endpoint_auth_method: 1 }, 'invalid_client_metadata', /must be a string/],
    ['a secret in open mode', { ...PUBLIC_APP, token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata', /public clients only/],
    ['grant_types not an array', { ...PUBLIC_APP, grant_types: 'authorization_code' }, 'invalid_client_metadata', /array of strings/],
    ['no grant', { ...PUBLIC_APP, grant_types: [] }, 'invalid_client_metadata', /at least one/],
    ['the password grant', { ...PUBLIC_APP, grant_types: ['authorization_code', 'password'] }, 'invalid_client_metadata', /password.*cannot be registered/],
    ['client_credentials in open mode', { ...PUBLIC_APP, grant_types: ['client_credentials'] }, 'invalid_client_metadata', /client_credentials.*cannot be registered/],
    ['implicit', { ...PUBLIC_APP, grant_types: ['implicit'] }, 'invalid_client_metadata', /cannot be registered/],
    ['refresh_token alone', { ...PUBLIC_APP, grant_types: ['refresh_token'] }, 'invalid_client_metadata', /needs authorization_code/],
    ['response type token', { ...PUBLIC_APP, response_types: ['code', 'token'] }, 'invalid_client_metadata', /only code/],
    ['no response type for the code grant', { ...PUBLIC_APP, response_types: [] }, 'invalid_client_metadata', /disagree/],
    ['an empty name', { ...PUBLIC_APP, client_name: '  ' }, 'invalid_client_metadata', /client_name/],
    ['a name too long', { ...PUBLIC_APP, client_name: 'n'.repeat(256) }, 'invalid_client_metadata', /client_name/],
    ['a name on two lines', { ...PUBLIC_APP, client_name: 'a\nb' }, 'invalid_client_metadata', /client_name/],
    ['a name that is not a string', { ...PUBLIC_APP, client_name: ['x'] }, 'invalid_client_metadata', /client_name must be a string/],
    ['the admin scope', { ...PUBLIC_APP, scope: 'openid latchkey:admin' }, 'invalid_client_metadata', /latchkey:admin/],
    ['a scope outside REGISTRATION_SCOPES', { ...PUBLIC_APP, scope: 'openid email' }, 'invalid_client_metadata', /not available.*email/],
    ['a malformed scope', { ...PUBLIC_APP, scope: 'open"id' }, 'invalid_client_metadata', /space-separated/],
    ['a scope that is not a string', { ...PUBLIC_APP, scope: ['openid'] }, 'invalid_client_metadata', /scope must be a string/],
    ['a REGISTRATION_SCOPES scope the server lacks', { ...PUBLIC_APP, scope: 'reports:read' }, 'invalid_client_metadata', /not available.*reports:read/],
  ]
  for (const [name, body, error, description] of cases) {
    const res = await register(ctx, body)
    t.equal(res.statusCode, 400, name)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
    t.equal(res.json().error, error, name)
    t.match(res.json().error_description, description, name)
  }
  const malformed = await register(ctx, '{"redirect_uris": [')
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error, 'invalid_request', 'malformed JSON')
  const form = await ctx.app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'client_name=x' })
  t.equal(form.statusCode, 415, 'a form body')
  t.equal(form.json().error, 'invalid_request')
  const other = await ctx.app.inject({ method: 'GET', url: '/register' })
  t.equal(other.statusCode, 405)
  t.equal(other.headers.allow, 'POST')
  t.equal((await ctx.app.inject({ method: 'PATCH', url: '/register/lk_x' })).headers.allow, 'GET, PUT, DELETE')
  t.equal(await countClients(ctx), 0, 'nothing was registered')

  // What is left out takes the server's values: a name from the redirect URI, every allowed scope it has.
  const minimal = await register(ctx, { redirect_uris: ['com.example.agent:/cb', 'https://second.example.com/cb', 'com.example.agent:/cb'], scope: '' })
  t.equal(minimal.statusCode, 201)
  t.match(minimal.json(), { client_name: 'com.example.agent', redirect_uris: ['com.example.agent:/cb', 'https://second.example.com/cb'], grant_types: ['authorization_code'], scope: '' })
  const named = await register(ctx, { redirect_uris: ['https://agent.example.com/cb'], scope: null, client_name: null })
  t.match(named.json(), { client_name: 'agent.example.com', scope: 'openid profile' }, 'null is absent')
})

t.test('management: the registration access token of that one client, compared as a hash; nothing says whether a client exists', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'token' } })
  const auth = async () => ({ authorization: `Bearer ${await initialToken(ctx)}` })
  const a = (await register(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'client_secret_basic' }, await auth())).json()
  const b = (await register(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'none' }, await auth())).json()
  const admin = await createClient(ctx, { name: 'Added by an admin' })

  for (const method of ['GET', 'PUT', 'DELETE'] as const) {
    const body = method === 'PUT' ? { client_id: a.client_id, ...PUBLIC_APP } : undefined
    assertBearerRefusal(t, await manage(ctx, method, a.client_id, undefined, body), undefined, `${method} without a token`)
    assertBearerRefusal(t, await manage(ctx, method, a.client_id, 'wrong-token', body), 'invalid_token', `${method} with a wrong token`)
    assertBearerRefusal(t, await manage(ctx, method, a.client_id, b.registration_access_token, body), 'invalid_token', `${method} with another client's token`)
  }
  const unknown = await manage(ctx, 'GET', 'lk_unknown', a.registration_access_token)
  const wrong = await manage(ctx, 'GET', a.client_id, 'wrong-token')
  t.same(unknown.json(), wrong.json(), 'an unknown client answers as a wrong token does')
  assertBearerRefusal(t, await manage(ctx, 'GET', admin.client_id, a.registration_access_token), 'invalid_token', 'a client added by an administrator is not managed here')
  const malformed = await ctx.app.inject({ method: 'GET', url: `/register/${a.client_id}`, headers: { authorization: 'Bearer a b' } })
  t.equal(malformed.statusCode, 400, 'a malformed bearer header')
  t.equal(malformed.json().error, 'invalid_request')

  // PUT: the request names the client, may repeat its secret, and never changes its kind.
  let token = a.registration_access_token as string
  const put = (body: unknown) => manage(ctx, 'PUT', a.client_id, token, body)
  const refusals: Array<[string, unknown, string, RegExp]> = [
    ['no client_id', { ...PUBLIC_APP }, 'invalid_client_metadata', /client_id/],
    ['another client_id', { ...PUBLIC_APP, client_id: b.client_id }, 'invalid_client_metadata', /client_id/],
    ['a chosen secret', { ...PUBLIC_APP, client_id: a.client_id, client_secret: 'mine' }, 'invalid_client_metadata', /client_secret/],
    ['a secret that is not a string', { ...PUBLIC_APP, client_id: a.client_id, client_secret: 1 }, 'invalid_client_metadata', /client_secret/],
    ['a public method', { ...PUBLIC_APP, client_id: a.client_id, token_endpoint_auth_method: 'none' }, 'invalid_client_metadata', /cannot change/],
    ['a bad redirect URI', { ...PUBLIC_APP, client_id: a.client_id, redirect_uris: ['http://x.example.com/'] }, 'invalid_redirect_uri', /https/],
    ['an array', [], 'invalid_client_metadata', /JSON object/],
  ]
  for (const [name, body, error, description] of refusals) {
    const res = await put(body)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().error, error, name)
    t.match(res.json().error_description, description, name)
  }
  const updated = await put({ ...PUBLIC_APP, client_id: a.client_id, client_secret: a.client_secret, client_name: 'Renamed', registration_access_token: 'ignored', client_id_issued_at: 1 })
  t.equal(updated.statusCode, 200, 'a refused update kept the token; the current secret may be repeated')
  t.match(updated.json(), { client_name: 'Renamed', token_endpoint_auth_method: 'client_secret_basic', client_id_issued_at: a.client_id_issued_at })
  token = updated.json().registration_access_token
  const pubPut = await manage(ctx, 'PUT', b.client_id, b.registration_access_token, { ...PUBLIC_APP, client_id: b.client_id, client_secret: 'x', token_endpoint_auth_method: 'none' })
  t.match(pubPut.json(), { error: 'invalid_client_metadata', error_description: /client_secret/ }, 'a public client has no secret to repeat')
  const pubKept = await manage(ctx, 'PUT', b.client_id, b.registration_access_token, { ...PUBLIC_APP, client_id: b.client_id })
  t.equal(pubKept.json().token_endpoint_auth_method, 'none', 'an omitted method keeps the client\'s own, even with REGISTRATION=token')
  const [del1, del2] = await Promise.all([manage(ctx, 'DELETE', b.client_id, pubKept.json().registration_access_token), manage(ctx, 'GET', b.client_id, pubKept.json().registration_access_token)])
  t.equal([del1, del2].filter((res) => res.statusCode < 300).length, 1, 'a delete and a read with one token: one wins')
  t.equal([del1, del2].filter((res) => res.statusCode === 401).length, 1)
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(a.client_id, a.client_secret) })).json().error, 'unauthorized_client', 'the secret still authenticates')

  // Two uses of one token at once: one wins.
  const [first, second] = await Promise.all([manage(ctx, 'GET', a.client_id, token), manage(ctx, 'GET', a.client_id, token)])
  t.same([first.statusCode, second.statusCode].sort(), [200, 401], 'a token is good for one use')
})

t.test('registrations are limited per address: 429 with Retry-After, in the RFC 7591 error format', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open', LIMIT_REGISTRATIONS_PER_ADDRESS: '2' } })
  t.equal((await register(ctx, PUBLIC_APP, {}, '192.0.2.7')).statusCode, 201)
  t.equal((await register(ctx, { client_name: 'bad' }, {}, '192.0.2.7')).statusCode, 400, 'a refused request counts too')
  const limited = await register(ctx, PUBLIC_APP, {}, '192.0.2.7')
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '3600')
  t.equal(limited.headers['cache-control'], 'no-store')
  t.match(limited.json(), { error: 'invalid_request', error_description: /too many registrations/ })
  t.equal((await register(ctx, PUBLIC_APP, {}, '2001:db8::1')).statusCode, 201, 'another address is not refused')
  t.equal((await register(ctx, PUBLIC_APP, {}, '192.0.2.7')).statusCode, 429)
  ctx.clock.advance(3600)
  t.equal((await register(ctx, PUBLIC_APP, {}, '192.0.2.7')).statusCode, 201, 'a new window')
  t.equal(await countClients(ctx), 3)
})
