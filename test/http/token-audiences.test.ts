import t, { type Test } from 'tap'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode, PASSWORD, verifyAccessToken } from '../helpers/oauth.js'

// RFC 8707 §2 and RFC 9700 §2.3: a client obtains tokens only for the audiences it is registered
// for (`client add --resource`; DEFAULT_AUDIENCE when none), at every grant that takes `resource`.

const DEFAULT_AUDIENCE = 'http://localhost:4000'
const ORDERS = 'https://orders.example.com/api'
const PAYMENTS = 'https://payments.example.com'
const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials', 'password']

type Response = Awaited<ReturnType<typeof exchange>>

/** Two real resource servers (`client add --audience`), as an administrator registers them. */
async function setup(t: Test) {
  const ctx = await buildTestApp(t)
  await createUser(ctx)
  await createClient(ctx, { name: 'Orders API', audience: ORDERS, redirectUris: [] })
  await createClient(ctx, { name: 'Payments API', audience: PAYMENTS, redirectUris: [] })
  return ctx
}

async function appClient(ctx: TestApp, resources?: string[]) {
  const client = await createClient(ctx, { grants: GRANTS, scope: 'openid', resources })
  return { ...client, auth: { authorization: basic(client.client_id, client.client_secret as string) } }
}

const clientCredentials = (ctx: TestApp, auth: Record<string, string>, resource?: string) =>
  exchange(ctx.app, { grant_type: 'client_credentials', ...(resource ? { resource } : {}) }, auth)

const password = (ctx: TestApp, auth: Record<string, string>, resource?: string, pass = PASSWORD) =>
  exchange(ctx.app, { grant_type: 'password', username: 'alice', password: pass, ...(resource ? { resource } : {}) }, auth)

async function assertAudience(t: Test, ctx: TestApp, res: Response, audience: string, name: string) {
  t.equal(res.statusCode, 200, `${name}: ${res.body}`)
  t.equal((await verifyAccessToken(ctx, res.json().access_token)).payload.aud, audience, name)
}

function assertInvalidTarget(t: Test, res: Response, description: RegExp, name: string) {
  t.equal(res.statusCode, 400, name)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(Object.keys(res.json()).sort(), ['error', 'error_description'], `${name}: no token`)
  t.equal(res.json().error, 'invalid_target', name)
  t.match(res.json().error_description, description, name)
}

eachDialect(t, (t) => {
  t.test('a client gets tokens for its registered audience and not for another resource server (the issue)', async (t) => {
    const ctx = await setup(t)
    const shop = await appClient(ctx, [ORDERS])
    for (const [grant, request] of [['client_credentials', clientCredentials], ['password', password]] as const) {
      await assertAudience(t, ctx, await request(ctx, shop.auth, ORDERS), ORDERS, `${grant}: registered audience`)
      assertInvalidTarget(t, await request(ctx, shop.auth, PAYMENTS), /not registered for this resource/, `${grant}: the Payments API's audience`)
    }
    const records = await ctx.store.db.selectFrom('access_tokens').select('jti').execute()
    t.equal(records.length, 1, 'only the allowed password grant recorded a token')
  })

  t.test('a client registered for no audience gets DEFAULT_AUDIENCE, named or not, and nothing else', async (t) => {
    const ctx = await setup(t)
    const plain = await appClient(ctx)
    for (const [grant, request] of [['client_credentials', clientCredentials], ['password', password]] as const) {
      await assertAudience(t, ctx, await request(ctx, plain.auth), DEFAULT_AUDIENCE, `${grant}: no resource`)
      await assertAudience(t, ctx, await request(ctx, plain.auth, DEFAULT_AUDIENCE), DEFAULT_AUDIENCE, `${grant}: resource=DEFAULT_AUDIENCE`)
      assertInvalidTarget(t, await request(ctx, plain.auth, ORDERS), /not registered for this resource/, `${grant}: a registered resource server's audience`)
      assertInvalidTarget(t, await request(ctx, plain.auth, 'https://anything.example.com'), /not registered/, `${grant}: any other URI`)
    }
  })

  t.test('a client whose list excludes DEFAULT_AUDIENCE: its only audience by default, else resource is required', async (t) => {
    const ctx = await setup(t)
    const one = await appClient(ctx, [ORDERS])
    const two = await appClient(ctx, [ORDERS, PAYMENTS])
    const withDefault = await appClient(ctx, [ORDERS, DEFAULT_AUDIENCE])
    for (const [grant, request] of [['client_credentials', clientCredentials], ['password', password]] as const) {
      await assertAudience(t, ctx, await request(ctx, one.auth), ORDERS, `${grant}: the one registered audience`)
      assertInvalidTarget(t, await request(ctx, one.auth, DEFAULT_AUDIENCE), /not registered/, `${grant}: DEFAULT_AUDIENCE is not implied`)
      assertInvalidTarget(t, await request(ctx, two.auth), /resource is required/, `${grant}: two audiences, none named`)
      await assertAudience(t, ctx, await request(ctx, two.auth, PAYMENTS), PAYMENTS, `${grant}: either may be named`)
      await assertAudience(t, ctx, await request(ctx, withDefault.auth), DEFAULT_AUDIENCE, `${grant}: a registered DEFAULT_AUDIENCE is the default`)
    }
  })

  t.test('password: a refused resource costs no sign-in attempt', async (t) => {
    const ctx = await setup(t)
    const shop = await appClient(ctx, [ORDERS])
    for (let i = 0; i < 6; i++) assertInvalidTarget(t, await password(ctx, shop.auth, PAYMENTS, 'wrong'), /not registered/, `attempt ${i}`)
    t.same(await ctx.store.db.selectFrom('login_attempts').selectAll().execute(), [])
    await assertAudience(t, ctx, await password(ctx, shop.auth, ORDERS), ORDERS, 'the user is not locked out')
  })

  t.test('a code and its refresh tokens keep the audience of the authorization request', async (t) => {
    const ctx = await setup(t)
    const shop = await appClient(ctx, [ORDERS, PAYMENTS])
    const { code, verifier } = await obtainCode(ctx, shop, { scope: 'openid', resource: ORDERS })
    const form = { grant_type: 'authorization_code', code, redirect_uri: shop.redirectUri, code_verifier: verifier }
    assertInvalidTarget(t, await exchange(ctx.app, { ...form, resource: PAYMENTS }, shop.auth), /differs/, 'code: another registered audience')
    const res = await exchange(ctx.app, form, shop.auth)
    await assertAudience(t, ctx, res, ORDERS, 'code exchange')
    const refresh = { grant_type: 'refresh_token', refresh_token: res.json().refresh_token as string }
    assertInvalidTarget(t, await exchange(ctx.app, { ...refresh, resource: PAYMENTS }, shop.auth), /differs/, 'refresh: another registered audience')
    await assertAudience(t, ctx, await exchange(ctx.app, refresh, shop.auth), ORDERS, 'refresh')
  })
})
