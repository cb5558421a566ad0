import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { secondFactors } from '../../src/accounts/totp.js'
import { resetFactors } from '../../src/admin/second-factors.js'
import { buildApp } from '../../src/app.js'
import { NO_AUDIT } from '../../src/audit.js'
import { loadConfig } from '../../src/config.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, logLines, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { createDeviceClient, decideOnDevicePage, poll, startDevice } from '../helpers/device.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

// The sign-in behind a refresh token, an authorization code or a device code is checked again
// when it is redeemed: the requirement may have risen since (--require-mfa, a factor enrolled).

const TOO_WEAK = /no longer meets the client's requirement; sign in again/

async function setup(t: Test, env: Record<string, string> = {}) {
  const logs: string[] = []
  const ctx = await buildTestApp(t, { env, logger: { level: 'info', stream: logLines(logs) } })
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid', grants: ['authorization_code', 'refresh_token'] })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  return { ctx, user, client, auth, logs }
}
type Setup = Awaited<ReturnType<typeof setup>>

async function codeOf(s: Setup) {
  return obtainCode(s.ctx, s.client, { scope: 'openid' })
}

function redeem(s: Setup, code: { code: string; verifier: string }) {
  return exchange(s.ctx.app, { grant_type: 'authorization_code', code: code.code, redirect_uri: s.client.redirectUri, code_verifier: code.verifier }, s.auth)
}

async function refreshTokenOf(s: Setup): Promise<string> {
  const res = await redeem(s, await codeOf(s))
  if (res.statusCode !== 200) throw new Error(res.body)
  return (res.json() as { refresh_token: string }).refresh_token
}

function refresh(s: Setup, token: string) {
  return exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: token }, s.auth)
}

async function familyOf(ctx: TestApp, refreshToken: string) {
  const token = await ctx.repos.refreshTokens.findByHash(sha256Hex(refreshToken))
  return ctx.repos.refreshTokens.findFamily(token?.familyId as string)
}

async function giveSecondFactor(ctx: TestApp, userId: string) {
  await ctx.store.db.insertInto('totp_factors').values({ user_id: userId, secret: 'not-a-real-secret', created_at: 0, confirmed_at: 0, last_step: null }).execute()
}

function refused(t: Test, res: { statusCode: number; json(): unknown }, what: string) {
  t.equal(res.statusCode, 400, what)
  t.match(res.json(), { error: 'invalid_grant', error_description: TOO_WEAK }, what)
}

function auditLines(logs: string[], event: string) {
  return logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true && line.event === event)
}

eachDialect(t, (t) => {
  t.test('a password-only family after `client update --require-mfa`: invalid_grant, the family revoked', async (t) => {
    const s = await setup(t)
    const token = await refreshTokenOf(s)
    const first = await refresh(s, token)
    t.equal(first.statusCode, 200, 'refreshes before')
    const current = (first.json() as { refresh_token: string }).refresh_token
    await s.ctx.repos.clients.update(s.client.client_id, { requireMfa: true })
    refused(t, await refresh(s, current), 'refused once the client requires two factors')
    t.ok((await familyOf(s.ctx, current))?.revokedAt, 'the family is revoked')
    t.match(auditLines(s.logs, 'grant_refused'), [{ userId: s.user.id, clientId: s.client.client_id, grant: 'refresh_token', reason: 'second_factor_required', familyId: String }])
    // Revoked: even with the requirement lifted again, the family yields nothing more.
    await s.ctx.repos.clients.update(s.client.client_id, { requireMfa: false })
    t.match((await refresh(s, current)).json(), { error: 'invalid_grant', error_description: /revoked/ })
  })

  t.test('a password-only family after the user enrols a second factor (MFA_REQUIRED=enrolled): refused', async (t) => {
    const s = await setup(t)
    const token = await refreshTokenOf(s)
    await giveSecondFactor(s.ctx, s.user.id)
    refused(t, await refresh(s, token), 'a factor enrolled since the sign-in')
    t.ok((await familyOf(s.ctx, token))?.revokedAt, 'the family is revoked')
  })

  t.test('MFA_REQUIRED=off: a password-only family of a user with a factor still refreshes', async (t) => {
    const s = await setup(t, { MFA_REQUIRED: 'off' })
    const token = await refreshTokenOf(s)
    await giveSecondFactor(s.ctx, s.user.id)
    t.equal((await refresh(s, token)).statusCode, 200)
  })

  t.test('MFA_REQUIRED=all set since: a password-only family from before is refused', async (t) => {
    const s = await setup(t)
    const token = await refreshTokenOf(s)
    // The server restarted with MFA_REQUIRED=all, on the same database.
    const strict = await buildApp(loadConfig({ ISSUER: 'http://localhost:3000', MFA_REQUIRED: 'all' }), { store: s.ctx.store, keys: s.ctx.keys, clock: s.ctx.clock, passwords: testPasswords, totpSecrets: keySecretBox(randomBytes(32)) })
    t.teardown(() => strict.close())
    refused(t, await exchange(strict, { grant_type: 'refresh_token', refresh_token: token }, s.auth), 'under MFA_REQUIRED=all')
    t.ok((await familyOf(s.ctx, token))?.revokedAt, 'the family is revoked')
  })

  t.test('a two-factor family still refreshes whatever is required', async (t) => {
    const s = await setup(t)
    const token = await refreshTokenOf(s)
    const family = await familyOf(s.ctx, token)
    await s.ctx.store.db.updateTable('refresh_token_families').set({ amr: JSON.stringify(['pwd', 'otp', 'mfa']) }).where('id', '=', family!.id).execute()
    await giveSecondFactor(s.ctx, s.user.id)
    await s.ctx.repos.clients.update(s.client.client_id, { requireMfa: true })
    const res = await refresh(s, token)
    t.equal(res.statusCode, 200, res.body)
    t.notOk((await familyOf(s.ctx, token))?.revokedAt)
  })

  t.test('`user mfa reset`: a family from a two-factor sign-in is revoked with the factors', async (t) => {
    const s = await setup(t)
    const token = await refreshTokenOf(s)
    const family = await familyOf(s.ctx, token)
    await s.ctx.store.db.updateTable('refresh_token_families').set({ amr: JSON.stringify(['pwd', 'otp', 'mfa']) }).where('id', '=', family!.id).execute()
    await giveSecondFactor(s.ctx, s.user.id)
    const factors = secondFactors({ factors: s.ctx.repos.secondFactors, secrets: keySecretBox(randomBytes(32)), clock: s.ctx.clock, issuer: 'x', audit: NO_AUDIT })
    const reset = await resetFactors({ users: s.ctx.repos.users, factors, sessions: s.ctx.repos.sessions, grants: s.ctx.repos.grants, clock: s.ctx.clock, audit: NO_AUDIT, actor: 'cli' }, 'alice')
    t.match(reset, { removed: { totp: true }, refresh_token_families_revoked: 1 })
    const res = await refresh(s, token)
    t.equal(res.statusCode, 400)
    t.match(res.json(), { error: 'invalid_grant', error_description: /revoked/ })
  })

  t.test('a password-only code redeemed after the requirement rose: invalid_grant', async (t) => {
    const s = await setup(t)
    const code = await codeOf(s)
    await giveSecondFactor(s.ctx, s.user.id)
    refused(t, await redeem(s, code), 'the code of a password sign-in')
    t.match(auditLines(s.logs, 'grant_refused'), [{ userId: s.user.id, grant: 'authorization_code', reason: 'second_factor_required' }])
    t.same(await s.ctx.store.db.selectFrom('refresh_token_families').select('id').execute(), [], 'no family made')
  })

  t.test('a device code approved by a password sign-in, redeemed after the client requires two factors: invalid_grant', async (t) => {
    const s = await setup(t)
    const tv = await createDeviceClient(s.ctx, { scope: 'openid' })
    const device = await startDevice(s.ctx, tv)
    t.equal((await decideOnDevicePage(s.ctx, device.user_code, 'allow', new Browser(s.ctx.app))).statusCode, 200)
    await s.ctx.repos.clients.update(tv.client_id, { requireMfa: true })
    refused(t, await poll(s.ctx, tv, device.device_code), 'the device poll')
  })
})
