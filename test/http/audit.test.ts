import t, { type Test } from 'tap'
import { createRegistrationToken } from '../../src/admin/registration-tokens.js'
import { addClient, removeClient, rotateSecret, updateClient } from '../../src/admin/clients.js'
import { revokeGrants } from '../../src/admin/grants.js'
import { addScope, removeScope } from '../../src/admin/scopes.js'
import { revokeSessions } from '../../src/admin/sessions.js'
import { addUser, disableUser, enableUser, removeUser, setPassword, updateUser } from '../../src/admin/users.js'
import { setUpDemo } from '../../src/admin/demo.js'
import { buildApp } from '../../src/app.js'
import { randomBytes } from 'node:crypto'
import { secondFactors, totpCode, totpStep } from '../../src/accounts/totp.js'
import { AUDIT_EVENTS, loggerAudit } from '../../src/audit.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { loadConfig } from '../../src/config.js'
import { inTransaction, repositories } from '../../src/storage/repositories.js'
import { logLines, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { createDeviceClient, enterUserCode, startDevice } from '../helpers/device.js'
import { manage, PUBLIC_APP, register } from '../helpers/registration.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { loadKeyStore } from '../../src/keys/key-store.js'
import { rotationPolicy } from '../../src/keys/key-timeline.js'
import { retireKey, rotateKeys } from '../../src/keys/key-writer.js'
import { basic, codeRequest, decide, exchange, PASSWORD, redirectParams, signIn } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'
import { SoftAuthenticator } from '../helpers/webauthn.js'

async function auditedApp(t: Test, level: string, env: Record<string, string> = {}, deps: { maxOpenTransactionsPerAddress?: number; maxUserCodeFailuresGlobal?: number } = {}) {
  const lines: string[] = []
  const config = loadConfig({ ISSUER: 'http://localhost:3000', ...env })
  const store = await dialectOf(t).open(t)
  const keys = await fixtureKeyStore()
  const clock = new FakeClock()
  // A TOTP key of the test's own: never a totp.key in the working directory.
  const totpSecrets = keySecretBox(randomBytes(32))
  const app = await buildApp(config, { store, keys, clock, passwords: testPasswords, logger: { level, stream: logLines(lines) }, totpSecrets, ...deps })
  t.teardown(() => app.close())
  const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
  // Administration records through the same log, as the CLI does through its own.
  const admin = { users: ctx.repos.users, clients: ctx.repos.clients, scopes: ctx.repos.scopes, passwords: testPasswords, clock, audit: loggerAudit(app.log) }
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { ctx, lines, admin, parsed, totpSecrets }
}

eachDialect(t, (t) => {
  t.test('a whole flow records every audit event, and the log holds no secret', async (t) => {
    const { ctx, lines, admin, parsed, totpSecrets } = await auditedApp(t, 'trace', { LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '12', REGISTRATION: 'token', LIMIT_REGISTRATIONS_PER_ADDRESS: '2' }, { maxOpenTransactionsPerAddress: 8, maxUserCodeFailuresGlobal: 1 })
    const { app } = ctx
    const secrets: string[] = [PASSWORD, 'wrong password one']
    const user = await addUser(admin, { username: 'alice', password: PASSWORD })
    await addUser(admin, { username: 'bob', password: PASSWORD })
    // `latchkey demo`, twice: the rerun resets the demo password and the example app's secret.
    for (let run = 0; run < 2; run++) {
      const demo = await setUpDemo(
        { transaction: inTransaction(ctx.store), passwords: testPasswords, clock: ctx.clock, audit: admin.audit },
        { issuer: ctx.config.issuer, audience: ctx.config.defaultAudience, appOrigin: 'http://localhost:5000' },
      )
      secrets.push(demo.user.password, demo.clients.example_app.client_secret, demo.code_verifier)
    }
    const added = await addClient(admin, {
      name: 'Web',
      redirectUris: ['https://app.example.com/cb'],
      grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
      scope: 'openid profile',
      postLogoutRedirectUris: ['https://app.example.com/bye'],
    })
    const client = { ...added, redirectUri: 'https://app.example.com/cb' }
    const secret = added.client_secret as string
    secrets.push(secret)
    const auth = basic(client.client_id, secret)

    // Sign-in: a failure, then a success; consent given; the code exchanged, then replayed.
    const browser = new Browser(app)
    const { pkce, url } = codeRequest(client, { scope: 'openid profile', nonce: 'n-1' })
    secrets.push(pkce.verifier)
    const page = await browser.get(url)
    secrets.push(hiddenInputs(page.body, '/authorize/login').csrf_token as string)
    t.equal((await signIn(browser, page, 'alice', 'wrong password one')).statusCode, 401)
    const consent = await signIn(browser, page)
    const code = redirectParams(await decide(browser, consent, 'allow')).get('code') as string
    secrets.push(code, ...browser.cookies.values())
    const exchanged = await exchange(app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: pkce.verifier }, { authorization: auth })
    t.equal(exchanged.statusCode, 200)
    const tokens = exchanged.json() as { access_token: string; refresh_token: string; id_token: string }
    secrets.push(tokens.access_token, tokens.refresh_token, tokens.id_token)
    t.equal((await exchange(app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: pkce.verifier }, { authorization: auth })).statusCode, 400)

    // A refresh (again from the replayed code's family: revoked, so a fresh grant first), then reuse.
    const second = codeRequest(client, { scope: 'openid' })
    const page2 = await browser.get(second.url)
    const code2 = redirectParams(page2.statusCode === 200 ? await decide(browser, page2, 'allow') : page2).get('code') as string
    const tokens2 = (await exchange(app, { grant_type: 'authorization_code', code: code2, redirect_uri: client.redirectUri, code_verifier: second.pkce.verifier }, { authorization: auth })).json() as { access_token: string; refresh_token: string }
    secrets.push(code2, second.pkce.verifier, tokens2.access_token, tokens2.refresh_token)
    const refreshed = await exchange(app, { grant_type: 'refresh_token', refresh_token: tokens2.refresh_token }, { authorization: auth })
    t.equal(refreshed.statusCode, 200)
    secrets.push((refreshed.json() as { access_token: string }).access_token, (refreshed.json() as { refresh_token: string }).refresh_token)
    t.equal((await exchange(app, { grant_type: 'refresh_token', refresh_token: tokens2.refresh_token }, { authorization: auth })).statusCode, 400)

    // Consent denied.
    const third = codeRequest(client, { prompt: 'consent' })
    t.equal((await decide(browser, await browser.get(third.url), 'deny')).statusCode, 303)

    // The password grant, client credentials, a wrong client secret, a revocation, /userinfo.
    const byPassword = await exchange(app, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid' }, { authorization: auth })
    t.equal(byPassword.statusCode, 200)
    secrets.push((byPassword.json() as { access_token: string }).access_token)
    const service = await exchange(app, { grant_type: 'client_credentials' }, { authorization: auth })
    secrets.push((service.json() as { access_token: string }).access_token)
    t.equal((await exchange(app, { grant_type: 'client_credentials' }, { authorization: basic(client.client_id, 'a-wrong-secret-7f3a') })).statusCode, 401)
    secrets.push('a-wrong-secret-7f3a')
    const revoked = await app.inject({ method: 'POST', url: '/revoke', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${tokens.access_token}` })
    t.equal(revoked.statusCode, 200)
    t.equal((await app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${(byPassword.json() as { access_token: string }).access_token}` } })).statusCode, 200)
    // Once alice has a second factor, the password grant refuses her (after her password was checked).
    await ctx.store.db.insertInto('totp_factors').values({ user_id: user.id, secret: 'not-a-real-secret', created_at: 0, confirmed_at: 0, last_step: null }).execute()
    t.equal((await exchange(app, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: auth })).statusCode, 400)
    // And her password-only refresh token no longer refreshes: its family is revoked.
    t.equal((await exchange(app, { grant_type: 'refresh_token', refresh_token: (byPassword.json() as { refresh_token: string }).refresh_token }, { authorization: auth })).statusCode, 400)
    await ctx.store.db.deleteFrom('totp_factors').where('user_id', '=', user.id).execute()

    // Passkeys: one registered on the account page, a wrong assertion with it, then removed.
    const authenticator = new SoftAuthenticator(ctx.config.issuer)
    const accountCsrf = hiddenInputs((await browser.get('/account/security')).body, '/account/passkeys').csrf_token as string
    secrets.push(accountCsrf)
    const creation = (await browser.post('/account/passkeys/options', { csrf_token: accountCsrf })).json()
    t.equal((await browser.post('/account/passkeys', { csrf_token: accountCsrf, name: 'Key', credential: JSON.stringify(authenticator.register(creation)) })).statusCode, 200)
    const stranger = new Browser(app)
    const passkeyForm = hiddenInputs((await stranger.get(codeRequest(client).url)).body, '/authorize/passkey')
    const assertionOptions = (await stranger.post('/authorize/passkey/options', passkeyForm)).json()
    const wrongOrigin = authenticator.assert(assertionOptions, { origin: 'https://evil.example' })
    t.equal((await stranger.post('/authorize/passkey', { ...passkeyForm, credential: JSON.stringify(wrongOrigin) })).statusCode, 401)
    // The registration started a new session (with the passkey): the page's token is new too.
    const newCsrf = hiddenInputs((await browser.get('/account/security')).body, '/account/passkeys').csrf_token as string
    secrets.push(newCsrf, ...browser.cookies.values())
    t.equal((await browser.post('/account/passkeys/remove', { csrf_token: newCsrf, credential_id: wrongOrigin.id })).statusCode, 303)

    // Logout, confirmed on the page.
    const logoutPage = await browser.get('/logout')
    t.equal((await browser.post('/logout/confirm', hiddenInputs(logoutPage.body, '/logout/confirm'))).statusCode, 200)

    // Five wrong passwords lock bob from this address; the address then reaches its limit.
    for (let i = 0; i < 5; i++) await exchange(app, { grant_type: 'password', username: 'bob', password: `bob guess ${i}` }, { authorization: auth })
    for (let i = 0; i < 8; i++) await exchange(app, { grant_type: 'password', username: `nobody${i}`, password: `spray ${i}` }, { authorization: auth })
    t.equal((await exchange(app, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: auth })).statusCode, 429)
    // Open authorization requests from one address reach their cap.
    let status = 0
    for (let i = 0; i < 10 && status !== 429; i++) status = (await new Browser(app).get(codeRequest(client).url)).statusCode
    t.equal(status, 429)

    // A device asks for a code; wrong user codes from everywhere pass the global limit.
    const tv = await createDeviceClient(ctx)
    const device = await startDevice(ctx, tv)
    secrets.push(device.device_code, device.user_code)
    t.equal((await enterUserCode(new Browser(app), 'BCDF-GHJK')).statusCode, 400)
    t.equal((await enterUserCode(new Browser(app), device.user_code)).statusCode, 429)

    // Administration, as the admin API runs it: the acting client recorded as `actor`.
    const acting = { ...admin, actor: client.client_id, issuer: ctx.config.issuer }
    await addScope(acting, { name: 'reports', description: 'Reports' })
    await updateUser(acting, 'bob', { name: 'Bob' })
    await setPassword(acting, 'bob', 'another long password')
    secrets.push('another long password')
    await disableUser(acting, 'bob')
    await enableUser(acting, 'bob')
    await revokeGrants({ ...acting, grants: ctx.repos.grants }, 'alice', {})
    await revokeSessions({ ...acting, sessions: ctx.repos.sessions }, 'alice')
    const spare = await addClient(acting, { name: 'Spare', grants: ['client_credentials'], scope: 'reports' })
    await updateClient(acting, spare.client_id, { scope: '' })
    const rotated = await rotateSecret(acting, spare.client_id, { graceSeconds: 60 })
    secrets.push(spare.client_secret as string, rotated.client_secret)
    await removeScope(acting, 'reports')
    await removeClient(acting, spare.client_id)
    await removeUser(acting, 'bob')

    // Key rotation and retirement (the CLI's and the schedule's events), on a directory of their own.
    const keysDir = t.testdir()
    await loadKeyStore(keysDir, { clock: ctx.clock })
    const rotatedKey = await rotateKeys(keysDir, { now: () => ctx.clock.now(), alg: 'RS256', immediate: false, policy: rotationPolicy(ctx.config), audit: admin.audit })
    await retireKey(keysDir, rotatedKey!.kid, { now: () => ctx.clock.now(), audit: admin.audit })

    // Dynamic registration: an initial access token, a registration, its update and deletion; then the address's limit.
    const initial = await createRegistrationToken({ initialAccessTokens: ctx.repos.initialAccessTokens, clock: ctx.clock, audit: admin.audit }, {})
    const registered = (await register(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'client_secret_post' }, { authorization: `Bearer ${initial.token}` })).json()
    const updated = await manage(ctx, 'PUT', registered.client_id, registered.registration_access_token, { ...PUBLIC_APP, client_id: registered.client_id, token_endpoint_auth_method: 'client_secret_post' })
    t.equal((await manage(ctx, 'DELETE', registered.client_id, updated.json().registration_access_token)).statusCode, 204)
    secrets.push(initial.token, registered.client_secret, registered.registration_access_token, updated.json().registration_access_token)
    t.equal((await register(ctx, PUBLIC_APP)).statusCode, 401)
    t.equal((await register(ctx, PUBLIC_APP)).statusCode, 429)

    // Second factors: an app enrolled with a first code, a recovery code used, new codes, the
    // app removed; one added by `user totp add`, then `user mfa reset`.
    const factors = secondFactors({ factors: ctx.repos.secondFactors, secrets: totpSecrets, clock: ctx.clock, issuer: 'latchkey', audit: admin.audit })
    const enrolment = (await factors.beginTotp(user.id, 'alice'))!
    const confirmed = (await factors.confirmTotp(user.id, totpCode(enrolment.secret, totpStep(ctx.clock.now()))))!
    secrets.push(enrolment.secret, ...confirmed.recoveryCodes)
    // A wrong code on the sign-in's second step, once the limits above have lapsed.
    ctx.clock.advance(16 * 60)
    const mfaBrowser = new Browser(app)
    const codePage = await signIn(mfaBrowser, await mfaBrowser.get(codeRequest(client).url))
    const wrongCode = await mfaBrowser.post('/authorize/second-factor', { ...hiddenInputs(codePage.body, '/authorize/second-factor'), method: 'totp', code: 'not-a-code' })
    t.equal(wrongCode.statusCode, 401)
    t.ok(await factors.useRecoveryCode(user.id, confirmed.recoveryCodes[0]!))
    secrets.push(...(await factors.regenerateRecoveryCodes(user.id))!)
    await factors.removeTotp(user.id)
    const scripted = (await factors.addConfirmedTotp(user.id, 'alice'))!
    secrets.push(scripted.secret, ...scripted.recoveryCodes)
    // A server with another totp.key cannot open the secret: the code fails, the event says why.
    const otherKey = secondFactors({ factors: ctx.repos.secondFactors, secrets: keySecretBox(randomBytes(32)), clock: ctx.clock, issuer: 'latchkey', audit: admin.audit })
    t.equal(await otherKey.verifyTotp(user.id, totpCode(scripted.secret, totpStep(ctx.clock.now()))), false)
    await factors.resetAll(user.id)

    const events = parsed().filter((line) => line.audit === true)
    const names = new Set(events.map((e) => e.event))
    t.same(AUDIT_EVENTS.filter((name) => !names.has(name)), [], 'every documented event was recorded')
    t.same([...names].filter((name) => !(AUDIT_EVENTS as readonly unknown[]).includes(name)), [], 'and no other')
    for (const event of events) t.equal(event.level, 30, `${String(event.event)} at info`)
    t.match(events.find((e) => e.event === 'signin_succeeded' && e.via === 'login_page'), { userId: user.id, ip: '127.0.0.1', requestId: String })
    t.match(events.find((e) => e.event === 'tokens_issued' && e.grant === 'authorization_code'), { clientId: client.client_id, subject: user.id, jti: String, familyId: String, idToken: true })
    t.match(events.find((e) => e.event === 'client_auth_failed'), { clientId: client.client_id, throttled: false })
    t.match(events.find((e) => e.event === 'logout'), { userId: user.id })
    t.match(events.find((e) => e.event === 'client_secret_rotated' && e.actor === client.client_id), { clientId: spare.client_id, graceSeconds: 60, actor: client.client_id })
    t.match(events.find((e) => e.event === 'grants_revoked'), { userId: user.id, actor: client.client_id })

    const log = lines.join('\n')
    for (const value of secrets) t.notOk(log.includes(value), `no secret in the log (${value.slice(0, 6)}…)`)
    t.notMatch(log, /alice|bob|nobody/, 'no username either: people type passwords into it')
  })

  t.test('LOG_LEVEL governs request logs; audit events are written whatever it says', async (t) => {
    for (const level of ['error', 'silent']) {
      const { ctx, admin, parsed } = await auditedApp(t, level)
      const added = await addClient(admin, { name: 'Svc', grants: ['client_credentials'], scope: '' })
      t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(added.client_id, added.client_secret as string) })).statusCode, 200)
      const lines = parsed()
      t.ok(lines.some((line) => line.event === 'tokens_issued'), `${level}: the audit event is there`)
      t.notOk(lines.some((line) => line.msg === 'incoming request' || line.msg === 'request completed'), `${level}: no request log`)
    }
    const { ctx, parsed } = await auditedApp(t, 'info')
    await ctx.app.inject('/healthz?x=secret')
    const requestLines = parsed().filter((line) => line.msg === 'request completed' || line.msg === 'incoming request')
    t.match(requestLines, [{ msg: 'request completed', req: { method: 'GET', path: '/healthz' }, res: { statusCode: 200 }, responseTime: Number }], 'info: one line per request, with method, path, status and time')
    t.notOk(JSON.stringify(requestLines).includes('secret'), 'no query string')
  })
})
