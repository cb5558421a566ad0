import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'

eachDialect(t, (t) => {
  t.test('a /token preflight is allowed for an origin some client registered, and only then', async (t) => {
    const ctx = await buildTestApp(t)
    await createClient(ctx, { isPublic: true, redirectUris: ['https://spa.example.com/cb'] })
    const preflight = (origin: string) =>
      ctx.app.inject({ method: 'OPTIONS', url: '/token', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    const ok = await preflight('https://spa.example.com')
    t.equal(ok.statusCode, 204)
    t.equal(ok.headers['access-control-allow-origin'], 'https://spa.example.com')
    t.match(ok.headers['access-control-allow-methods'], /POST/)
    t.match(ok.headers['access-control-allow-headers'], /Content-Type/)
    const refused = await preflight('https://evil.example.com')
    t.notOk(refused.headers['access-control-allow-origin'])
  })

  t.test('the /token POST gets CORS headers only for an origin of that client', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const spa = await createClient(ctx, { isPublic: true, redirectUris: ['https://spa.example.com/cb'] })
    await createClient(ctx, { isPublic: true, redirectUris: ['https://other.example.com/cb'] })
    const one = await obtainCode(ctx, spa)
    const form = (code: string, verifier: string) => ({ grant_type: 'authorization_code', code, redirect_uri: spa.redirectUri, code_verifier: verifier, client_id: spa.client_id })
    const foreign = await exchange(ctx.app, form(one.code, one.verifier), { origin: 'https://other.example.com' })
    t.equal(foreign.statusCode, 200)
    t.notOk(foreign.headers['access-control-allow-origin'], 'another client\'s origin gets nothing')
    const two = await obtainCode(ctx, spa)
    const own = await exchange(ctx.app, form(two.code, two.verifier), { origin: 'https://spa.example.com' })
    t.equal(own.headers['access-control-allow-origin'], 'https://spa.example.com')
    t.match(own.headers.vary, /Origin/)
    const failed = await exchange(ctx.app, { ...form(two.code, two.verifier) }, { origin: 'https://spa.example.com' })
    t.equal(failed.statusCode, 400)
    t.equal(failed.headers['access-control-allow-origin'], 'https://spa.example.com', 'errors are readable by the client too')
  })

  t.test('discovery and JWKS answer any origin; health and /authorize do not', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await createClient(ctx)
    const origin = { origin: 'https://anyone.example' }
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const res = await ctx.app.inject({ url, headers: origin })
      t.equal(res.headers['access-control-allow-origin'], '*', url)
    }
    const authorize = await ctx.app.inject({ url: `/authorize?client_id=${client.client_id}`, headers: origin })
    t.notOk(authorize.headers['access-control-allow-origin'])
    const token = await ctx.app.inject({ method: 'POST', url: '/token', headers: { ...origin, authorization: basic(client.client_id, 'x') }, payload: {} })
    t.notOk(token.headers['access-control-allow-origin'])
  })

  t.test('/revoke answers a browser client like /token; /introspect never sends CORS headers', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const spa = await createClient(ctx, { isPublic: true, redirectUris: ['https://spa.example.com/cb'] })
    const preflight = (url: string, origin: string) =>
      ctx.app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    const ok = await preflight('/revoke', 'https://spa.example.com')
    t.equal(ok.statusCode, 204)
    t.equal(ok.headers['access-control-allow-origin'], 'https://spa.example.com')
    t.notOk((await preflight('/revoke', 'https://evil.example.com')).headers['access-control-allow-origin'])
    t.notOk((await preflight('/introspect', 'https://spa.example.com')).headers['access-control-allow-origin'], 'no preflight for /introspect')

    const { code, verifier } = await obtainCode(ctx, spa)
    const tokens = (await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: spa.redirectUri, code_verifier: verifier, client_id: spa.client_id })).json()
    const revoke = (origin: string) =>
      ctx.app.inject({
        method: 'POST',
        url: '/revoke',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: tokens.refresh_token, client_id: spa.client_id }).toString(),
      })
    const foreign = await revoke('https://evil.example.com')
    t.equal(foreign.statusCode, 200)
    t.notOk(foreign.headers['access-control-allow-origin'])
    const own = await revoke('https://spa.example.com')
    t.equal(own.statusCode, 200)
    t.equal(own.headers['access-control-allow-origin'], 'https://spa.example.com')
    t.match(own.headers.vary, /Origin/)
    const refreshed = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: spa.client_id })
    t.equal(refreshed.json().error, 'invalid_grant', 'the browser revoked its refresh token')
  })
})
