import t from 'tap'
import { addClient, updateClient } from '../../src/admin/clients.js'
import { addScope } from '../../src/admin/scopes.js'
import { NO_AUDIT } from '../../src/audit.js'
import { buildTestApp } from '../helpers/app.js'
import { ADMIN_ENV, addAdminClient, adminAudienceOf, adminCall, adminToken, buildAdminApp, clientToken } from '../helpers/admin.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'

eachDialect(t, (t) => {
  t.test('the admin API is off unless ADMIN_API=on', async (t) => {
    const ctx = await buildTestApp(t)
    const res = await ctx.app.inject('/admin/v1/users')
    t.equal(res.statusCode, 404)
    t.equal((await ctx.app.inject('/admin/v1/openapi.json')).statusCode, 404)
  })

  t.test('no token: 401 with a bare Bearer challenge (RFC 6750 §3.1)', async (t) => {
    const ctx = await buildAdminApp(t)
    const res = await adminCall(ctx, undefined, 'GET', '/users')
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="latchkey"')
    t.equal(res.headers['cache-control'], 'no-store')
    t.notOk('error' in res.json())
    const basicAuth = await ctx.app.inject({ url: '/admin/v1/users', headers: { authorization: basic('lk_x', 'y') } })
    t.equal(basicAuth.statusCode, 401, 'another scheme is no bearer credentials')
    const malformed = await ctx.app.inject({ url: '/admin/v1/users', headers: { authorization: 'Bearer a b' } })
    t.equal(malformed.statusCode, 400)
    t.match(malformed.headers['www-authenticate'], /error="invalid_request"/)
  })

  t.test('bad, foreign-audience, expired and revoked tokens: 401 invalid_token', async (t) => {
    const ctx = await buildAdminApp(t)
    const { token, client } = await adminToken(ctx)
    t.equal((await adminCall(ctx, token, 'GET', '/users')).statusCode, 200, 'the admin token works')

    const garbage = await adminCall(ctx, 'not.a.jwt', 'GET', '/users')
    t.equal(garbage.statusCode, 401)
    t.match(garbage.headers['www-authenticate'], /error="invalid_token"/)

    // An admin client that may also ask for another API's tokens: those are not admin tokens.
    await updateClient({ clients: ctx.repos.clients, scopes: ctx.repos.scopes, clock: ctx.clock, audit: NO_AUDIT, issuer: ctx.config.issuer, actor: 'test' }, client.client_id, {
      resources: ['https://api.example.com', adminAudienceOf(ctx)],
    })
    const foreign = await clientToken(ctx, client, { resource: 'https://api.example.com' })
    const other = await adminCall(ctx, foreign, 'GET', '/users')
    t.equal(other.statusCode, 401)
    t.match(other.headers['www-authenticate'], /error="invalid_token", error_description="access token is not for the admin API"/)

    const revoked = await clientToken(ctx, client, { resource: adminAudienceOf(ctx) })
    t.equal((await ctx.app.inject({ method: 'POST', url: '/revoke', headers: { authorization: basic(client.client_id, client.client_secret), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${revoked}` })).statusCode, 200)
    const afterRevoke = await adminCall(ctx, revoked, 'GET', '/users')
    t.equal(afterRevoke.statusCode, 401)
    t.match(afterRevoke.json().error_description, /revoked/)

    ctx.clock.advance(3600)
    const expired = await adminCall(ctx, token, 'GET', '/users')
    t.equal(expired.statusCode, 401, 'expired')
    t.match(expired.json().error_description, /invalid or expired/)
  })

  t.test('a valid admin-audience token without the scope, and a user token: 403 insufficient_scope', async (t) => {
    const ctx = await buildAdminApp(t)
    await addScope({ scopes: ctx.repos.scopes }, { name: 'reports', description: 'Reports' })
    const admin = await addAdminClient(ctx, { scope: 'reports' })
    const narrow = await clientToken(ctx, admin, { scope: 'reports' })
    const res = await adminCall(ctx, narrow, 'GET', '/users')
    t.equal(res.statusCode, 403)
    t.match(res.headers['www-authenticate'], /error="insufficient_scope".*scope="latchkey:admin"/)
    t.equal(res.json().error, 'insufficient_scope')

    // A user's token for the admin audience (a client registered for it): sub is the user.
    await createUser(ctx)
    const web = await createClient(ctx, { resources: [adminAudienceOf(ctx)] })
    const { code, verifier } = await obtainCode(ctx, web, { resource: adminAudienceOf(ctx), scope: 'openid' })
    const issued = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: web.redirectUri, code_verifier: verifier }, { authorization: basic(web.client_id, web.client_secret as string) })
    const userToken = (issued.json() as { access_token: string }).access_token
    const byUser = await adminCall(ctx, userToken, 'GET', '/users')
    t.equal(byUser.statusCode, 403)
    t.match(byUser.json().error_description, /not a user token/)
  })

  t.test("a removed admin client's token, or one no longer admin: 401", async (t) => {
    const ctx = await buildAdminApp(t)
    const first = await adminToken(ctx)
    const second = await adminToken(ctx)
    const acting = { clients: ctx.repos.clients, scopes: ctx.repos.scopes, clock: ctx.clock, audit: NO_AUDIT, issuer: ctx.config.issuer, actor: 'test' }
    // The second admin removes the first: its unexpired token stops at once.
    t.equal((await adminCall(ctx, second.token, 'DELETE', `/clients/${first.client.client_id}`)).statusCode, 200)
    const removed = await adminCall(ctx, first.token, 'GET', '/users')
    t.equal(removed.statusCode, 401)
    t.match(removed.headers['www-authenticate'], /error="invalid_token"/)
    // Taking the admin scope away does the same (the token itself still carries the scope).
    await updateClient(acting, second.client.client_id, { admin: false })
    t.equal((await adminCall(ctx, second.token, 'GET', '/users')).statusCode, 401)
    // A non-admin client that names the admin audience gets no further either.
    const plain = await addClient(acting, { name: 'Svc', grants: ['client_credentials'], scope: '', resources: [adminAudienceOf(ctx)] })
    const plainToken = await clientToken(ctx, { client_id: plain.client_id, client_secret: plain.client_secret as string })
    t.equal((await adminCall(ctx, plainToken, 'GET', '/users')).statusCode, 401)
  })

  t.test('ADMIN_API accepts on and off only', async (t) => {
    await t.rejects(buildTestApp(t, { env: { ...ADMIN_ENV, ADMIN_API: 'yes' } }), /ADMIN_API must be "on" or "off"/)
  })
})
