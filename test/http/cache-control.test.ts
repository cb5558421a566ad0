import Fastify, { type InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { noStoreByDefault } from '../../src/routes/route-rules.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { authorizeUrl, createClient, newPkce } from '../helpers/oauth.js'

type Response = Awaited<ReturnType<TestApp['app']['inject']>>

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

function assertNoStore(t: Test, res: Response, name: string, status?: number) {
  if (status !== undefined) t.equal(res.statusCode, status, `${name}: status`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  t.equal(res.headers['pragma'], 'no-cache', `${name}: pragma`)
}

eachDialect(t, (t) => {
  t.test('discovery and JWKS stay publicly cacheable for five minutes, without pragma', async (t) => {
    const { app } = await buildTestApp(t)
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const res = await app.inject(url)
      t.equal(res.statusCode, 200, url)
      t.equal(res.headers['cache-control'], 'public, max-age=300', url)
      t.notOk(res.headers['pragma'], `${url}: no pragma`)
    }
  })

  t.test('/healthz keeps its own no-store', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject('/healthz')
    t.equal(res.headers['cache-control'], 'no-store')
    t.notOk(res.headers['pragma'])
  })

  t.test('every token, client-endpoint and userinfo error is no-store, framework errors included', async (t) => {
    const { app } = await buildTestApp(t)
    const big = `a=${'x'.repeat(70_000)}`
    const cases: Array<[string, string | InjectOptions, number]> = [
      ['404 unknown path', '/nowhere', 404],
      ['404 unknown well-known path', '/.well-known/nothing', 404],
      ['404 POST to the JWKS', { method: 'POST', url: '/.well-known/jwks.json' }, 404],
      ['405 at /token', '/token', 405],
      ['405 at /revoke', '/revoke', 405],
      ['401 at /token', { method: 'POST', url: '/token', headers: FORM, payload: 'grant_type=client_credentials' }, 401],
      ['400 malformed JSON at /token', { method: 'POST', url: '/token', headers: { 'content-type': 'application/json' }, payload: '{' }, 400],
      ['413 at /token', { method: 'POST', url: '/token', headers: FORM, payload: big }, 413],
      ['415 at /token', { method: 'POST', url: '/token', headers: { 'content-type': 'text/plain' }, payload: 'x' }, 415],
      ['415 at /introspect', { method: 'POST', url: '/introspect', headers: { 'content-type': 'application/json' }, payload: '{}' }, 415],
      ['413 at /revoke', { method: 'POST', url: '/revoke', headers: FORM, payload: big }, 413],
      ['401 at /userinfo', '/userinfo', 401],
      ['413 at /userinfo', { method: 'POST', url: '/userinfo', headers: FORM, payload: big }, 413],
      ['405 at /userinfo', { method: 'PUT', url: '/userinfo' }, 405],
    ]
    for (const [name, request, status] of cases) assertNoStore(t, await app.inject(request), name, status)
  })

  t.test('/authorize pages and redirects are no-store', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await createClient(ctx)
    assertNoStore(t, await ctx.app.inject(authorizeUrl({ client_id: 'nope' })), 'error page', 400)
    const pkce = newPkce()
    const login = await ctx.app.inject(authorizeUrl({ response_type: 'code', client_id: client.client_id, redirect_uri: client.redirectUri, code_challenge: pkce.challenge, code_challenge_method: 'S256' }))
    assertNoStore(t, login, 'login page', 200)
    const redirect = await ctx.app.inject(authorizeUrl({ response_type: 'token', client_id: client.client_id, redirect_uri: client.redirectUri }))
    t.equal(redirect.statusCode, 302)
    t.match(redirect.headers.location, /error=unsupported_response_type/)
    assertNoStore(t, redirect, 'error redirect')
  })

  t.test('a 429 is no-store', async (t) => {
    const app = await buildApp(loadConfig({ LIMIT_CLIENT_AUTH_FAILURES: '1' }), {
      store: await dialectOf(t).open(t),
      keys: await fixtureKeyStore(),
      clock: new FakeClock(),
    })
    t.teardown(() => app.close())
    await app.inject({ method: 'POST', url: '/introspect', headers: FORM, payload: 'token=x' })
    assertNoStore(t, await app.inject({ method: 'POST', url: '/introspect', headers: FORM, payload: 'token=x' }), '429 at /introspect', 429)
  })

  t.test('no-store unless the route set its own Cache-Control; an error never keeps a public one', async (t) => {
    const app = Fastify()
    app.addHook('onSend', noStoreByDefault)
    app.get('/plain', async () => ({ ok: true }))
    app.get('/cached', async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=60')
      return { ok: true }
    })
    app.get('/cached-then-failed', async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=60')
      throw new Error('boom')
    })
    app.get('/cached-then-refused', async (_request, reply) => reply.header('cache-control', 'public, max-age=60').code(404).send({ ok: false }))
    t.teardown(() => app.close())
    assertNoStore(t, await app.inject('/plain'), 'a route that says nothing', 200)
    const cached = await app.inject('/cached')
    t.equal(cached.headers['cache-control'], 'public, max-age=60')
    t.notOk(cached.headers['pragma'])
    assertNoStore(t, await app.inject('/cached-then-failed'), 'an error after a public header', 500)
    assertNoStore(t, await app.inject('/cached-then-refused'), 'a 404 after a public header', 404)
    assertNoStore(t, await app.inject('/missing'), 'the default 404', 404)
  })
})
