import t from 'tap'
import { eachDialect } from '../helpers/db.js'
import { startLatchkey } from '../helpers/server.js'
import { decodeJwt } from 'jose'
import { addScope } from '../../src/admin/scopes.js'
import { buildDemo } from '../../src/resource-server/demo-app.js'
import { accessTokenClaims, signToken } from '../resource-server/fixture-issuer.js'
import { tokenChecks } from '../resource-server/token-cases.js'
import { createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'

const AUDIENCE = 'http://localhost:4000'


eachDialect(t, (t) => {
  t.test('the resource-server module against a real latchkey and its keys', async (t) => {
    const ctx = await startLatchkey(t, { env: { DEFAULT_AUDIENCE: AUDIENCE } })
    const issuer = ctx.config.issuer
    const signing = ctx.keys.signingKey()

    t.test('every token check, with tokens signed by latchkey\'s own key', async (t) => {
      const key = { kid: signing.kid, privateKey: signing.privateKey, publicJwk: ctx.keys.jwks().keys[0]! }
      await tokenChecks(t, {
        issuer,
        audience: AUDIENCE,
        sign: (claims, header) => signToken(key, accessTokenClaims(issuer, AUDIENCE, claims), header),
      })
    })

    t.test('the demo API takes tokens from latchkey\'s code flow and enforces scope', async (t) => {
      await addScope({ scopes: ctx.repos.scopes }, { name: 'source:w', description: 'Write sources' })
      await createUser(ctx)
      const reader = await createClient(ctx, { scope: 'openid' })
      const writer = await createClient(ctx, { scope: 'openid source:w' })
      const { app: api } = await buildDemo({ issuer, audience: AUDIENCE })
      t.teardown(() => api.close())

      const tokenFor = async (client: { client_id: string; client_secret?: string; redirectUri: string }, scope: string) => {
        const { code, verifier } = await obtainCode(ctx, client, { scope })
        const res = await exchange(ctx.app, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: client.redirectUri,
          code_verifier: verifier,
          client_id: client.client_id,
          client_secret: client.client_secret as string,
        })
        t.equal(res.statusCode, 200, res.body)
        return res.json().access_token as string
      }

      const readToken = await tokenFor(reader, 'openid')
      t.equal(decodeJwt(readToken).aud, AUDIENCE)
      const me = await api.inject({ url: '/api/me', headers: { authorization: `Bearer ${readToken}` } })
      t.equal(me.statusCode, 200, me.body)
      t.match(me.json(), { sub: decodeJwt(readToken).sub, scope: 'openid', client_id: reader.client_id })

      const denied = await api.inject({ method: 'POST', url: '/api/sources', headers: { authorization: `Bearer ${readToken}` }, payload: { name: 'x' } })
      t.equal(denied.statusCode, 403)
      t.match(denied.headers['www-authenticate'], /error="insufficient_scope"/)
      t.match(denied.headers['www-authenticate'], /scope="source:w"/)

      const writeToken = await tokenFor(writer, 'openid source:w')
      const created = await api.inject({ method: 'POST', url: '/api/sources', headers: { authorization: `Bearer ${writeToken}` }, payload: { name: 'x' } })
      t.equal(created.statusCode, 201, created.body)
      t.match(created.json(), { name: 'x' })

      const none = await api.inject({ url: '/api/me' })
      t.equal(none.statusCode, 401)
      t.equal(none.headers['www-authenticate'], `Bearer realm="${AUDIENCE}", resource_metadata="${AUDIENCE}/.well-known/oauth-protected-resource"`)

      // RFC 9728: the document a client finds from that challenge leads it to this latchkey.
      const metadata = await api.inject({ url: '/.well-known/oauth-protected-resource' })
      t.equal(metadata.statusCode, 200)
      t.match(metadata.json(), { resource: AUDIENCE, authorization_servers: [issuer], bearer_methods_supported: ['header'] })
    })
  })

  t.test('a latchkey that goes down: known keys still verify, unknown kids get 401, never-loaded keys 503', async (t) => {
    const ctx = await startLatchkey(t, { env: { DEFAULT_AUDIENCE: AUDIENCE } })
    const issuer = ctx.config.issuer
    const signing = ctx.keys.signingKey()
    const key = { kid: signing.kid, privateKey: signing.privateKey, publicJwk: ctx.keys.jwks().keys[0]! }
    const sign = (header: Record<string, unknown> = {}) => signToken(key, accessTokenClaims(issuer, AUDIENCE), header)
    const { app: api } = await buildDemo({ issuer, audience: AUDIENCE, jwksCooldownMs: 0 })
    t.teardown(() => api.close())
    const get = async (token: string) => api.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })

    t.equal((await get(await sign())).statusCode, 200, 'keys loaded from the running latchkey')
    await ctx.app.close()
    t.equal((await get(await sign())).statusCode, 200, 'a cached key keeps working while latchkey is down')
    const unknown = await get(await sign({ kid: 'not-published' }))
    t.equal(unknown.statusCode, 401, 'an unknown kid cannot be fetched: 401, not a crash')
    t.match(unknown.headers['www-authenticate'], /error="invalid_token"/)

    const { app: cold } = await buildDemo({ issuer, audience: AUDIENCE })
    t.teardown(() => cold.close())
    const never = await cold.inject({ url: '/api/me', headers: { authorization: `Bearer ${await sign()}` } })
    t.equal(never.statusCode, 503, 'no keys were ever loaded')
    t.equal(never.json().error, 'temporarily_unavailable')
  })
})
