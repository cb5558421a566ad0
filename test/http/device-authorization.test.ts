import t from 'tap'
import { normalizeUserCode, USER_CODE_ALPHABET } from '../../src/oauth/device-flow.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { buildTestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { sqliteCase } from '../helpers/db.js'
import { createDeviceClient, postForm, startDevice } from '../helpers/device.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { basic, createClient } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

t.test('answers a device code, a user code BCDF-GHJK style, the verification URIs, 600 s and 5 s; stores only hashes', async (t) => {
  const ctx = await buildTestApp(t)
  const client = await createDeviceClient(ctx)
  const res = await postForm(ctx.app, '/device_authorization', { client_id: client.client_id, scope: 'openid profile' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['device_code', 'expires_in', 'interval', 'user_code', 'verification_uri', 'verification_uri_complete'])
  t.match(body.device_code, /^[A-Za-z0-9_-]{43}$/, '256 random bits')
  t.match(body.user_code, new RegExp(`^[${USER_CODE_ALPHABET}]{4}-[${USER_CODE_ALPHABET}]{4}$`))
  t.equal(body.verification_uri, 'http://localhost:3000/device')
  t.equal(body.verification_uri_complete, `http://localhost:3000/device?user_code=${body.user_code}`)
  t.equal(body.expires_in, 600)
  t.equal(body.interval, 5)

  const stored = await ctx.store.db.selectFrom('device_authorizations').selectAll().executeTakeFirstOrThrow()
  t.equal(stored.device_code_hash, sha256Hex(body.device_code))
  t.not(stored.user_code_hash, normalizeUserCode(body.user_code))
  t.notMatch(JSON.stringify(stored), body.device_code, 'the device code is not stored')
  t.notMatch(JSON.stringify(stored), body.user_code.replace('-', ''), 'the user code is not stored')
  t.same(JSON.parse(stored.scopes), ['openid', 'profile'])
  t.equal(stored.resource, ctx.config.defaultAudience)
  t.equal(stored.status, 'pending')
})

t.test('discovery lists the endpoint and the grant type', async (t) => {
  const ctx = await buildTestApp(t)
  const doc = (await ctx.app.inject('/.well-known/openid-configuration')).json()
  t.equal(doc.device_authorization_endpoint, 'http://localhost:3000/device_authorization')
  t.ok(doc.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'))
})

t.test('without the device grant in the registry there is no endpoint, page or metadata', async (t) => {
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await sqliteCase.open(t)
  const { BUILT_IN_GRANTS } = await import('../../src/grants/index.js')
  const app = await buildApp(config, {
    store,
    keys: await fixtureKeyStore(),
    clock: new FakeClock(),
    passwords: testPasswords,
    grants: BUILT_IN_GRANTS.filter((g) => g.type === 'authorization_code'),
  })
  t.teardown(() => app.close())
  t.equal((await postForm(app, '/device_authorization', { client_id: 'x' })).statusCode, 404)
  t.equal((await app.inject('/device')).statusCode, 404)
  t.notOk((await app.inject('/.well-known/openid-configuration')).json().device_authorization_endpoint)
})

t.test('client authentication as at /token', async (t) => {
  const ctx = await buildTestApp(t)
  const confidential = await createDeviceClient(ctx, { isPublic: false })
  t.equal((await startDevice(ctx, confidential)).interval, 5, 'Basic authentication')
  const post = await postForm(ctx.app, '/device_authorization', { client_id: confidential.client_id, client_secret: confidential.client_secret as string })
  t.equal(post.statusCode, 200, 'client_secret_post')
  const wrong = await postForm(ctx.app, '/device_authorization', {}, { authorization: basic(confidential.client_id, 'wrong') })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().error, 'invalid_client')
  t.match(wrong.headers['www-authenticate'], /^Basic/)
  const secretless = await postForm(ctx.app, '/device_authorization', { client_id: confidential.client_id })
  t.equal(secretless.statusCode, 401, 'a confidential client must authenticate')
  const none = await postForm(ctx.app, '/device_authorization', {})
  t.equal(none.statusCode, 401)
  t.equal((await postForm(ctx.app, '/device_authorization', { client_id: 'lk_nobody' })).statusCode, 401)
})

t.test('errors in /token JSON: unauthorized_client, invalid_scope, invalid_target, repeats, media type, method', async (t) => {
  const ctx = await buildTestApp(t)
  const client = await createDeviceClient(ctx, { scope: 'openid profile', resources: ['https://api.example.com'] })
  const webApp = await createClient(ctx, { isPublic: true })
  const cases: [Record<string, string>, number, string][] = [
    [{ client_id: webApp.client_id }, 400, 'unauthorized_client'],
    [{ client_id: client.client_id, scope: 'openid email' }, 400, 'invalid_scope'],
    [{ client_id: client.client_id, scope: '"' }, 400, 'invalid_scope'],
    [{ client_id: client.client_id, resource: 'https://other.example.com' }, 400, 'invalid_target'],
    [{ client_id: client.client_id, resource: 'not a uri' }, 400, 'invalid_target'],
  ]
  for (const [form, status, error] of cases) {
    const res = await postForm(ctx.app, '/device_authorization', form)
    t.equal(res.statusCode, status, JSON.stringify(form))
    t.equal(res.json().error, error, JSON.stringify(form))
    t.equal(res.headers['cache-control'], 'no-store')
  }
  const repeated = await ctx.app.inject({
    method: 'POST',
    url: '/device_authorization',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `client_id=${client.client_id}&scope=openid&scope=profile`,
  })
  t.equal(repeated.json().error, 'invalid_request')
  const json = await ctx.app.inject({ method: 'POST', url: '/device_authorization', headers: { 'content-type': 'application/json' }, payload: '{}' })
  t.equal(json.statusCode, 415)
  const get = await ctx.app.inject('/device_authorization')
  t.equal(get.statusCode, 405)
  t.equal(get.headers.allow, 'POST')
  t.equal((await startDevice(ctx, client, { resource: 'https://api.example.com' })).interval, 5, 'a registered resource')
})

t.test('a scope the client was registered for but that was removed since is invalid_scope', async (t) => {
  const ctx = await buildTestApp(t)
  const client = await createDeviceClient(ctx, { scope: 'openid' })
  // Registered before the scope went away.
  await ctx.store.db.updateTable('clients').set({ scopes: JSON.stringify(['openid', 'gone']) }).where('id', '=', client.client_id).execute()
  const res = await postForm(ctx.app, '/device_authorization', { client_id: client.client_id, scope: 'gone' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().error, 'invalid_scope')
})

t.test('live device authorizations per address are capped: 429 with Retry-After, nothing stored', async (t) => {
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await sqliteCase.open(t)
  const clock = new FakeClock()
  const app = await buildApp(config, { store, keys: await fixtureKeyStore(), clock, passwords: testPasswords, maxOpenDeviceAuthorizationsPerAddress: 2 })
  t.teardown(() => app.close())
  const ctx = { app, config, store, keys: await fixtureKeyStore(), clock, repos: (await import('../../src/storage/repositories.js')).repositories(store) }
  const client = await createDeviceClient(ctx)
  await startDevice(ctx, client)
  clock.advance(60)
  await startDevice(ctx, client)
  const refused = await postForm(app, '/device_authorization', { client_id: client.client_id })
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().error, 'temporarily_unavailable')
  t.equal(refused.headers['retry-after'], '540', 'until the first one expires')
  t.equal((await store.db.selectFrom('device_authorizations').select('id').execute()).length, 2)
  clock.advance(540)
  t.equal((await postForm(app, '/device_authorization', { client_id: client.client_id })).statusCode, 200, 'room again once one expired')
})
