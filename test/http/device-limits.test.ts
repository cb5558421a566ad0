import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { MAX_USER_CODE_FAILURES } from '../../src/authorization/device.js'
import { loadConfig } from '../../src/config.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { repositories } from '../../src/storage/repositories.js'
import { logLines, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf } from '../helpers/db.js'
import { createDeviceClient, decideOnDevicePage, enterUserCode, poll, postForm, startDevice } from '../helpers/device.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { createUser } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

async function loggedApp(t: Test, deps: { maxOpenTransactionsPerAddress?: number; maxOpenDeviceAuthorizationsPerAddress?: number } = {}) {
  const lines: string[] = []
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await dialectOf(t).open(t)
  const keys = await fixtureKeyStore()
  const clock = new FakeClock()
  const app = await buildApp(config, { store, keys, clock, passwords: testPasswords, logger: { level: 'info', stream: logLines(lines) }, ...deps })
  t.teardown(() => app.close())
  const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
  const audit = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true)
  return { ctx, lines, audit }
}

t.test('the cap on live device codes is audited; the log holds no device or user code', async (t) => {
  const { ctx, lines, audit } = await loggedApp(t, { maxOpenDeviceAuthorizationsPerAddress: 1 })
  const client = await createDeviceClient(ctx)
  const started = await startDevice(ctx, client)
  const refused = await postForm(ctx.app, '/device_authorization', { client_id: client.client_id })
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '600')
  t.match(audit().filter((line) => line.event === 'authorize_throttled'), [{ limit: 'open_device_authorizations', retryAfterSeconds: 600 }])
  const log = lines.join('\n')
  t.notMatch(log, started.device_code)
  t.notMatch(log, started.user_code)
})

t.test('wrong user codes: the first refusal of a window is audited, the ones after it are not', async (t) => {
  const { ctx, audit } = await loggedApp(t)
  const client = await createDeviceClient(ctx)
  await startDevice(ctx, client)
  const browser = new Browser(ctx.app)
  for (let i = 0; i < MAX_USER_CODE_FAILURES + 3; i++) await enterUserCode(browser, 'BCDF-GHJK')
  const throttled = audit().filter((line) => line.event === 'authorize_throttled')
  t.match(throttled, [{ limit: 'user_code_failures', retryAfterSeconds: 900 }])
  t.equal(throttled.length, 1)
})

t.test('the cap on open sign-in requests applies to the device page too: an error page with 429', async (t) => {
  const { ctx, audit } = await loggedApp(t, { maxOpenTransactionsPerAddress: 1 })
  await createUser(ctx)
  const client = await createDeviceClient(ctx)
  const first = await startDevice(ctx, client)
  const second = await startDevice(ctx, client)
  t.match((await enterUserCode(new Browser(ctx.app), first.user_code)).body, 'name="password"')
  const refused = await enterUserCode(new Browser(ctx.app), second.user_code)
  t.equal(refused.statusCode, 429)
  t.match(refused.headers['content-type'], /^text\/html/)
  t.match(refused.body, 'too many sign-in requests')
  t.ok(refused.headers['retry-after'])
  t.match(audit().filter((line) => line.event === 'authorize_throttled'), [{ limit: 'open_transactions' }])
})

t.test('a replayed device code is audited as code_replay, by id only', async (t) => {
  const { ctx, lines, audit } = await loggedApp(t)
  await createUser(ctx)
  const client = await createDeviceClient(ctx)
  const started = await startDevice(ctx, client)
  await decideOnDevicePage(ctx, started.user_code, 'allow')
  const issued = await poll(ctx, client, started.device_code)
  t.equal(issued.statusCode, 200)
  t.equal((await poll(ctx, client, started.device_code)).json().error, 'invalid_grant')
  const device = await ctx.repos.devices.findByDeviceCodeHash(sha256Hex(started.device_code))
  t.match(audit().filter((line) => line.event === 'code_replay'), [{ codeId: device?.codeId, clientId: client.client_id, via: 'device', deviceAuthorizationId: device?.id }])
  const log = lines.join('\n')
  for (const secret of [started.device_code, started.user_code, issued.json().access_token, issued.json().refresh_token]) t.notOk(log.includes(secret), 'no code or token in the log')
})

t.test('a device authorization, its approval and its denial are audited by id, never by code', async (t) => {
  const { ctx, lines, audit } = await loggedApp(t)
  const user = await createUser(ctx)
  const client = await createDeviceClient(ctx)
  const allowed = await startDevice(ctx, client)
  const denied = await startDevice(ctx, client)
  const idOf = async (deviceCode: string) => (await ctx.repos.devices.findByDeviceCodeHash(sha256Hex(deviceCode)))?.id
  const [allowedId, deniedId] = [await idOf(allowed.device_code), await idOf(denied.device_code)]
  t.match(audit().filter((line) => line.event === 'device_authorization_started'), [
    { clientId: client.client_id, network: '127.0.0.1', deviceAuthorizationId: allowedId },
    { clientId: client.client_id, network: '127.0.0.1', deviceAuthorizationId: deniedId },
  ])
  await decideOnDevicePage(ctx, allowed.user_code, 'allow')
  await decideOnDevicePage(ctx, denied.user_code, 'deny')
  t.match(audit().filter((line) => line.event === 'consent_given'), [{ userId: user.id, clientId: client.client_id, via: 'device', deviceAuthorizationId: allowedId }])
  t.match(audit().filter((line) => line.event === 'consent_denied'), [{ userId: user.id, clientId: client.client_id, via: 'device', deviceAuthorizationId: deniedId }])
  const log = lines.join('\n')
  for (const secret of [allowed.device_code, allowed.user_code, denied.device_code, denied.user_code]) t.notOk(log.includes(secret), 'no device or user code in the log')
})
