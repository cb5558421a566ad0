import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { createDeviceClient, decideOnDevicePage, enterUserCode, poll, startDevice } from '../helpers/device.js'
import { basic, codeRequest, createClient, createUser, decide, exchange, obtainCode, redirectParams, signIn, verifyAccessToken } from '../helpers/oauth.js'

const ACR_PWD = 'urn:latchkey:acr:pwd'
const ACR_MFA = 'urn:latchkey:acr:mfa'
const TWO_FACTORS = ['pwd', 'otp', 'mfa']

async function setup(t: Test, input: { requireMfa?: boolean; env?: Record<string, string> } = {}) {
  const ctx = await buildTestApp(t, input.env ? { env: input.env } : {})
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid profile', grants: ['authorization_code', 'refresh_token'], requireMfa: input.requireMfa })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  return { ctx, user, client, auth }
}
type Setup = Awaited<ReturnType<typeof setup>>

async function verifyIdToken(ctx: TestApp, token: string) {
  const { payload } = await jwtVerify<JWTPayload & Record<string, unknown>>(token, createLocalJWKSet(ctx.keys.jwks()), {
    issuer: ctx.config.issuer,
    typ: 'JWT',
    algorithms: ['RS256'],
    currentDate: new Date(ctx.clock.now()),
  })
  return payload
}

async function redeem(s: Setup, code: string, verifier: string) {
  const res = await exchange(s.ctx.app, { grant_type: 'authorization_code', code, redirect_uri: s.client.redirectUri, code_verifier: verifier }, s.auth)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json() as { access_token: string; refresh_token: string; id_token: string }
}

/** What the second-factor step will write: the browser's session now says two factors. */
async function upgradeSessions(ctx: TestApp, userId: string) {
  await ctx.store.db.updateTable('login_sessions').set({ amr: JSON.stringify(TWO_FACTORS) }).where('user_id', '=', userId).execute()
}

async function giveSecondFactor(ctx: TestApp, userId: string) {
  await ctx.store.db.insertInto('totp_factors').values({ user_id: userId, secret: 'not-a-real-secret', created_at: 0, confirmed_at: 0, last_step: null }).execute()
}

async function introspect(s: Setup, token: string) {
  const res = await s.ctx.app.inject({
    method: 'POST',
    url: '/introspect',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...s.auth },
    payload: new URLSearchParams({ token }).toString(),
  })
  return res.json() as Record<string, unknown>
}

eachDialect(t, (t) => {
  t.test('a password sign-in: ID token, access token, introspection and refresh say amr ["pwd"] and acr pwd', async (t) => {
    const s = await setup(t)
    const { code, verifier } = await obtainCode(s.ctx, s.client, { scope: 'openid' })
    const tokens = await redeem(s, code, verifier)
    const id = await verifyIdToken(s.ctx, tokens.id_token)
    t.same([id.amr, id.acr], [['pwd'], ACR_PWD], 'ID token')
    const access = (await verifyAccessToken(s.ctx, tokens.access_token)).payload
    t.same([access.amr, access.acr], [['pwd'], ACR_PWD], 'access token')
    const shown = await introspect(s, tokens.access_token)
    t.same([shown.active, shown.amr, shown.acr], [true, ['pwd'], ACR_PWD], 'introspection of the access token')
    const family = await introspect(s, tokens.refresh_token)
    t.same([family.active, family.amr, family.acr], [true, ['pwd'], ACR_PWD], 'introspection of the refresh token')
    // A family begun before second factors existed (amr NULL) was a password sign-in.
    await s.ctx.store.db.updateTable('refresh_token_families').set({ amr: null }).execute()
    const old = await introspect(s, tokens.refresh_token)
    t.same([old.active, old.amr, old.acr], [true, ['pwd'], ACR_PWD], 'an older family reads as a password sign-in')
  })

  t.test('a two-factor session: the code, the tokens and every refresh carry its amr and acr mfa', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, browser)
    await upgradeSessions(s.ctx, s.user.id)
    const { pkce, url } = codeRequest(s.client, { scope: 'openid', prompt: 'none', acr_values: ACR_MFA })
    const silent = await browser.get(url)
    const code = redirectParams(silent).get('code')
    t.ok(code, 'the session meets acr_values=mfa: a code without any page')
    const tokens = await redeem(s, code as string, pkce.verifier)
    const id = await verifyIdToken(s.ctx, tokens.id_token)
    t.same([id.amr, id.acr], [TWO_FACTORS, ACR_MFA], 'ID token')
    const access = (await verifyAccessToken(s.ctx, tokens.access_token)).payload
    t.same([access.amr, access.acr], [TWO_FACTORS, ACR_MFA], 'access token')
    t.same((await introspect(s, tokens.access_token)).acr, ACR_MFA)

    const refreshed = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, s.auth)
    t.equal(refreshed.statusCode, 200)
    const body = refreshed.json() as { access_token: string; id_token: string }
    t.same((await verifyAccessToken(s.ctx, body.access_token)).payload.amr, TWO_FACTORS, 'the refreshed access token keeps the amr')
    const refreshedId = await verifyIdToken(s.ctx, body.id_token)
    t.same([refreshedId.amr, refreshedId.acr], [TWO_FACTORS, ACR_MFA], 'so does the refreshed ID token')
  })

  t.test('acr_values=mfa: a password-only session does not count (prompt=none: login_required)', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, browser)
    const silent = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none', acr_values: ACR_MFA }).url)
    t.equal(redirectParams(silent).get('error'), 'login_required')
    const page = await browser.get(codeRequest(s.client, { scope: 'openid', acr_values: ACR_MFA }).url)
    t.equal(page.statusCode, 200)
    t.match(page.body, /name="password"/, 'without prompt=none: sign in again')
    const stored = await s.ctx.store.db.selectFrom('authorization_transactions').select(['acr_values', 'user_id']).where('acr_values', 'is not', null).execute()
    t.same(stored, [{ acr_values: ACR_MFA, user_id: null }], 'acr_values stored on the transaction, nobody signed in to it')
  })

  t.test('acr_values naming pwd (or only unknown classes) accepts a password sign-in', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, browser)
    for (const acrValues of [`${ACR_MFA} ${ACR_PWD}`, ACR_PWD, 'urn:example:unknown']) {
      const silent = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none', acr_values: acrValues }).url)
      t.ok(redirectParams(silent).get('code'), acrValues)
    }
  })

  t.test('acr_values sent twice or over-long is invalid_request', async (t) => {
    const s = await setup(t)
    const twice = await new Browser(s.ctx.app).get(`${codeRequest(s.client, { acr_values: ACR_MFA }).url}&acr_values=${encodeURIComponent(ACR_PWD)}`)
    t.equal(redirectParams(twice).get('error'), 'invalid_request')
    const long = await new Browser(s.ctx.app).get(codeRequest(s.client, { acr_values: 'x'.repeat(256) }).url)
    t.equal(redirectParams(long).get('error'), 'invalid_request')
    t.match(redirectParams(long).get('error_description'), /acr_values/)
  })

  t.test('a client with --require-mfa: a password-only session does not count, a two-factor one does', async (t) => {
    const s = await setup(t, { requireMfa: true })
    const browser = new Browser(s.ctx.app)
    // A session from another client's sign-in.
    const other = await createClient(s.ctx, { scope: 'openid' })
    await obtainCode(s.ctx, other, { scope: 'openid' }, browser)
    const silent = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none' }).url)
    t.equal(redirectParams(silent).get('error'), 'login_required')
    await upgradeSessions(s.ctx, s.user.id)
    const consent = await browser.get(codeRequest(s.client, { scope: 'openid' }).url)
    t.match(consent.body, /action="\/authorize\/consent"/, 'the two-factor session counts: straight to consent')
  })

  t.test('MFA_REQUIRED=enrolled: a password-only session of a user with a second factor does not count', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, browser)
    t.ok(redirectParams(await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none' }).url)).get('code'), 'before: a code')
    await giveSecondFactor(s.ctx, s.user.id)
    const silent = await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none' }).url)
    t.equal(redirectParams(silent).get('error'), 'login_required', 'after enrolling: sign in again')
  })

  t.test('MFA_REQUIRED=off: a user with a second factor may keep a password-only session', async (t) => {
    const s = await setup(t, { env: { MFA_REQUIRED: 'off' } })
    const browser = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, browser)
    await giveSecondFactor(s.ctx, s.user.id)
    t.ok(redirectParams(await browser.get(codeRequest(s.client, { scope: 'openid', prompt: 'none' }).url)).get('code'))
  })

  t.test('the consent post checks again that the sign-in meets what the client requires', async (t) => {
    const s = await setup(t)
    const browser = new Browser(s.ctx.app)
    const page = await browser.get(codeRequest(s.client, { scope: 'openid' }).url)
    const consent = await signIn(browser, page)
    t.match(consent.body, /action="\/authorize\/consent"/)
    // The client starts requiring two factors while the consent page is open.
    await s.ctx.store.db.updateTable('clients').set({ require_mfa: 1 }).where('id', '=', s.client.client_id).execute()
    const res = await decide(browser, consent, 'allow')
    t.equal(res.statusCode, 200)
    t.match(res.body, /name="password"/, 'back to signing in, no code')
    t.notOk(res.headers.location)
    t.same(await s.ctx.store.db.selectFrom('authorization_codes').select('id').execute(), [], 'no code issued')
  })

  t.test('the device flow: the approval carries the session\'s amr to the tokens; a too-weak session does not count', async (t) => {
    const s = await setup(t)
    const tv = await createDeviceClient(s.ctx, { scope: 'openid' })
    const browser = new Browser(s.ctx.app)
    const first = await startDevice(s.ctx, tv)
    t.equal((await decideOnDevicePage(s.ctx, first.user_code, 'allow', browser)).statusCode, 200)
    const pwd = (await poll(s.ctx, tv, first.device_code)).json() as { access_token: string }
    t.same((await verifyAccessToken(s.ctx, pwd.access_token)).payload.amr, ['pwd'], 'a password sign-in on the verification page')

    await upgradeSessions(s.ctx, s.user.id)
    const second = await startDevice(s.ctx, tv)
    const consent = await enterUserCode(browser, second.user_code)
    t.match(consent.body, /action="\/authorize\/consent"/, 'the session counts: straight to consent')
    t.equal((await decide(browser, consent, 'allow')).statusCode, 200)
    const mfa = (await poll(s.ctx, tv, second.device_code)).json() as { access_token: string; id_token: string }
    t.same((await verifyAccessToken(s.ctx, mfa.access_token)).payload.amr, TWO_FACTORS)
    t.same((await verifyIdToken(s.ctx, mfa.id_token)).acr, ACR_MFA)

    // A password-only session, and the device's client now requires two factors.
    const other = new Browser(s.ctx.app)
    await obtainCode(s.ctx, s.client, { scope: 'openid' }, other)
    await s.ctx.store.db.updateTable('clients').set({ require_mfa: 1 }).where('id', '=', tv.client_id).execute()
    const third = await startDevice(s.ctx, tv)
    t.match((await enterUserCode(other, third.user_code)).body, /name="password"/, 'sign in again')
  })
})
