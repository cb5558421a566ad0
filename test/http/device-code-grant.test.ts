import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { DEVICE_CODE_GRANT } from '../../src/oauth/device-flow.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { createDeviceClient, decideOnDevicePage, poll, postForm, startDevice } from '../helpers/device.js'
import { createUser, exchange, verifyAccessToken } from '../helpers/oauth.js'

function assertError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string } }, error: string) {
  t.equal(res.statusCode, 400, `${error}: 400`)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, error)
}

async function setup(t: Test, clientInput: Parameters<typeof createDeviceClient>[1] = {}) {
  const ctx = await buildTestApp(t)
  const user = await createUser(ctx)
  const client = await createDeviceClient(ctx, clientInput)
  return { ctx, user, client }
}

eachDialect(t, (t) => {
  t.test('every polling answer: pending, slow_down, then tokens once, then invalid_grant', async (t) => {
    const { ctx, user, client } = await setup(t)
    const started = await startDevice(ctx, client, { scope: 'openid profile' })
    assertError(t, await poll(ctx, client, started.device_code), 'authorization_pending')
    // RFC 8628 §3.5: sooner than the interval is slow_down, and the interval grows by 5 s.
    ctx.clock.advance(2)
    const fast = await poll(ctx, client, started.device_code)
    assertError(t, fast, 'slow_down')
    t.match(fast.json().error_description, /10 seconds/)
    ctx.clock.advance(9)
    assertError(t, await poll(ctx, client, started.device_code), 'slow_down')
    t.equal((await ctx.repos.devices.findByDeviceCodeHash(sha256Hex(started.device_code)))?.intervalSeconds, 15, 'each slow_down adds 5 seconds')
    ctx.clock.advance(15)
    assertError(t, await poll(ctx, client, started.device_code), 'authorization_pending')

    const done = await decideOnDevicePage(ctx, started.user_code, 'allow')
    t.equal(done.statusCode, 200)
    t.match(done.body, 'You may return to your device')

    ctx.clock.advance(15)
    const issued = await poll(ctx, client, started.device_code)
    t.equal(issued.statusCode, 200)
    t.equal(issued.headers['cache-control'], 'no-store')
    const body = issued.json()
    t.equal(body.token_type, 'Bearer')
    t.equal(body.scope, 'openid profile')
    t.type(body.refresh_token, 'string', 'a refresh token for a client registered for it')
    const { payload } = await verifyAccessToken(ctx, body.access_token)
    t.equal(payload.sub, user.id)
    t.equal(payload.client_id, client.client_id)
    t.equal(payload.auth_time, Math.floor(ctx.clock.now() / 1000) - 15, 'auth_time is the sign-in on the page')
    const idToken = await jwtVerify(body.id_token, createLocalJWKSet(ctx.keys.jwks()), { issuer: ctx.config.issuer, audience: client.client_id, currentDate: new Date(ctx.clock.now()) })
    t.equal(idToken.payload.sub, user.id, 'openid: an ID token')
    t.equal(idToken.payload.auth_time, payload.auth_time)

    // The refresh token works as in the code flow.
    const refreshed = await exchange(ctx.app, { ...client.auth.form, grant_type: 'refresh_token', refresh_token: body.refresh_token })
    t.equal(refreshed.statusCode, 200)
    t.type(refreshed.json().id_token, 'string', 'a family begun with openid gets ID tokens on refresh')
    const userinfo = (token: string) => ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${token}` } })
    t.equal((await userinfo(body.access_token)).statusCode, 200)

    // RFC 8628 §3.5: a device code works once; RFC 9700 §4.2.4: its replay revokes what it yielded.
    ctx.clock.advance(15)
    const again = await poll(ctx, client, started.device_code)
    assertError(t, again, 'invalid_grant')
    t.match(again.json().error_description, /already been used/)
    t.equal((await userinfo(body.access_token)).statusCode, 401, 'the access token issued from it is revoked')
    t.equal((await userinfo(refreshed.json().access_token)).statusCode, 401, 'and the ones its family issued')
    const afterReplay = await exchange(ctx.app, { ...client.auth.form, grant_type: 'refresh_token', refresh_token: refreshed.json().refresh_token })
    t.equal(afterReplay.json().error, 'invalid_grant', 'and its refresh-token family')
  })

  t.test('a denial is access_denied, and stays so', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    const page = await decideOnDevicePage(ctx, started.user_code, 'deny')
    t.equal(page.statusCode, 200)
    t.match(page.body, 'Access denied')
    assertError(t, await poll(ctx, client, started.device_code), 'access_denied')
    ctx.clock.advance(1)
    assertError(t, await poll(ctx, client, started.device_code), 'access_denied')
  })

  t.test('an expired device code is expired_token, approved or not', async (t) => {
    const { ctx, client } = await setup(t)
    const pending = await startDevice(ctx, client)
    const approved = await startDevice(ctx, client)
    await decideOnDevicePage(ctx, approved.user_code, 'allow')
    ctx.clock.advance(600)
    assertError(t, await poll(ctx, client, pending.device_code), 'expired_token')
    assertError(t, await poll(ctx, client, approved.device_code), 'expired_token')
  })

  t.test('two concurrent polls after approval: exactly one gets tokens', async (t) => {
    const { ctx, client } = await setup(t)
    const started = await startDevice(ctx, client)
    await decideOnDevicePage(ctx, started.user_code, 'allow')
    const answers = await Promise.all([poll(ctx, client, started.device_code), poll(ctx, client, started.device_code)])
    t.same(answers.map((a) => a.statusCode).sort(), [200, 400])
    const refused = answers.find((a) => a.statusCode === 400)
    t.equal(refused?.json().error, 'invalid_grant')
  })

  t.test("another client's device code, an unknown one and a missing one", async (t) => {
    const { ctx, client } = await setup(t)
    const other = await createDeviceClient(ctx, { name: 'Other TV' })
    const started = await startDevice(ctx, client)
    await decideOnDevicePage(ctx, started.user_code, 'allow')
    const stolen = await poll(ctx, other, started.device_code)
    assertError(t, stolen, 'invalid_grant')
    t.match(stolen.json().error_description, /unknown device_code/)
    assertError(t, await poll(ctx, client, 'no-such-code'), 'invalid_grant')
    const missing = await postForm(ctx.app, '/token', { ...client.auth.form, grant_type: DEVICE_CODE_GRANT })
    assertError(t, missing, 'invalid_request')
    t.equal((await poll(ctx, client, started.device_code)).statusCode, 200, 'the rightful client still gets its tokens')
  })

  t.test('a confidential client authenticates; without the refresh_token grant no refresh token', async (t) => {
    const { ctx, client } = await setup(t, { isPublic: false, grants: [DEVICE_CODE_GRANT] })
    const started = await startDevice(ctx, client, { scope: 'profile' })
    await decideOnDevicePage(ctx, started.user_code, 'allow')
    const unauthenticated = await postForm(ctx.app, '/token', { client_id: client.client_id, grant_type: DEVICE_CODE_GRANT, device_code: started.device_code })
    t.equal(unauthenticated.statusCode, 401)
    const issued = await poll(ctx, client, started.device_code)
    t.equal(issued.statusCode, 200)
    t.notOk(issued.json().refresh_token)
    t.notOk(issued.json().id_token, 'no openid, no ID token')
  })

  t.test('a client not registered for the grant is unauthorized_client at /token', async (t) => {
    const { ctx, client } = await setup(t)
    const codeOnly = await createDeviceClient(ctx, { name: 'Web app', grants: ['refresh_token'] })
    const started = await startDevice(ctx, client)
    const res = await poll(ctx, codeOnly, started.device_code)
    t.equal(res.statusCode, 400)
    t.equal(res.json().error, 'unauthorized_client')
  })

  t.test("a user disabled after approving: invalid_grant; revoking the user's grants drops the approval", async (t) => {
    const { ctx, user, client } = await setup(t)
    const first = await startDevice(ctx, client)
    const second = await startDevice(ctx, client)
    await decideOnDevicePage(ctx, first.user_code, 'allow')
    await decideOnDevicePage(ctx, second.user_code, 'allow')
    // Disabled behind the grants' back: the issue's own check refuses.
    await ctx.store.db.updateTable('users').set({ disabled_at: ctx.clock.now() }).where('id', '=', user.id).execute()
    const inactive = await poll(ctx, client, first.device_code)
    assertError(t, inactive, 'invalid_grant')
    t.match(inactive.json().error_description, /no longer valid/)
    // `user disable` revokes the user's grants: the approval's unredeemed code goes with them.
    await ctx.store.db.updateTable('users').set({ disabled_at: null }).where('id', '=', user.id).execute()
    t.ok(await ctx.repos.users.disable(user.id, ctx.clock.now()))
    const revoked = await poll(ctx, client, second.device_code)
    assertError(t, revoked, 'invalid_grant')
    t.match(revoked.json().error_description, /no longer valid/)
  })
})
