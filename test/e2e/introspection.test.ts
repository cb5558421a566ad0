import t, { type Test } from 'tap'
import { eachDialect } from '../helpers/db.js'
import { startLatchkey } from '../helpers/server.js'
import { buildDemo } from '../../src/resource-server/demo-app.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'

const AUDIENCE = 'http://localhost:4000'


/** A client of latchkey, its tokens from the code flow, and the demo API introspecting at latchkey. */
async function setup(t: Test) {
  const ctx = await startLatchkey(t, { env: { DEFAULT_AUDIENCE: AUDIENCE } })
  await createUser(ctx)
  const client = await createClient(ctx)
  const auth = basic(client.client_id, client.client_secret as string)
  const { code, verifier } = await obtainCode(ctx, client)
  const res = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, { authorization: auth })
  t.equal(res.statusCode, 200, res.body)
  const { access_token: accessToken, refresh_token: refreshToken } = res.json() as { access_token: string; refresh_token: string }

  // The resource server is itself a latchkey client, registered with --audience.
  const rs = await createClient(ctx, { audience: AUDIENCE, redirectUris: [] })
  const { app: api } = await buildDemo({
    issuer: ctx.config.issuer,
    audience: AUDIENCE,
    introspect: { clientId: rs.client_id, clientSecret: rs.client_secret as string },
  })
  t.teardown(() => api.close())
  const me = (token: string) => api.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })

  // Over the network, as the client would.
  const revoke = (form: Record<string, string>) =>
    fetch(`${ctx.config.issuer}/revoke`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    })
  return { ctx, client, accessToken, refreshToken, me, revoke }
}

function assertRevokedAtIssuer(t: Test, res: Awaited<ReturnType<Awaited<ReturnType<typeof setup>>['me']>>) {
  t.equal(res.statusCode, 401)
  t.match(res.headers['www-authenticate'], /^Bearer realm="http:\/\/localhost:4000", error="invalid_token"/)
  t.same(res.json(), { error: 'invalid_token', error_description: 'token is not active (revoked)' })
}

eachDialect(t, (t) => {
  t.test('the resource server accepts an active token and refuses it once revoked at latchkey', async (t) => {
    const { client, accessToken, me, revoke } = await setup(t)
    const before = await me(accessToken)
    t.equal(before.statusCode, 200, before.body)
    t.equal(before.json().client_id, client.client_id)

    const revoked = await revoke({ token: accessToken, token_type_hint: 'access_token' })
    t.equal(revoked.status, 200)
    t.equal(revoked.headers.get('cache-control'), 'no-store')
    t.equal(await revoked.text(), '')

    assertRevokedAtIssuer(t, await me(accessToken))
  })

  t.test('revoking the refresh token cuts off the access token issued with it', async (t) => {
    const { accessToken, refreshToken, me, revoke } = await setup(t)
    t.equal((await me(accessToken)).statusCode, 200)
    t.equal((await revoke({ token: refreshToken })).status, 200)
    assertRevokedAtIssuer(t, await me(accessToken))
  })

  t.test("another client's revocation attempt leaves the token working", async (t) => {
    const { ctx, accessToken, me } = await setup(t)
    const other = await createClient(ctx)
    const res = await fetch(`${ctx.config.issuer}/revoke`, {
      method: 'POST',
      headers: { authorization: basic(other.client_id, other.client_secret as string), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken }),
    })
    t.equal(res.status, 200)
    t.equal((await me(accessToken)).statusCode, 200)
  })
})
