import t from 'tap'
import type { AuditEvent } from '../../src/audit.js'
import { BUILT_IN_GRANTS } from '../../src/grants/index.js'
import { MAX_REGISTRATIONS_PER_HOUR, REGISTRATIONS_KEY, registrations } from '../../src/registration/registrations.js'
import { purgeExpired, purgePolicy } from '../../src/storage/purge.js'
import { inTransaction } from '../../src/storage/repositories.js'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { createUser, exchange, obtainCode } from '../helpers/oauth.js'
import { manage, PUBLIC_APP, register } from '../helpers/registration.js'

// Findings of the registration security review: each test fails without its fix.

t.test('HEAD /register/:client_id is 405 and spends no registration access token', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
  const client = (await register(ctx, PUBLIC_APP)).json()
  const head = await ctx.app.inject({ method: 'HEAD', url: `/register/${client.client_id}`, headers: { authorization: `Bearer ${client.registration_access_token}` } })
  t.equal(head.statusCode, 405)
  t.equal(head.headers.allow, 'GET, PUT, DELETE')
  t.equal(head.headers['cache-control'], 'no-store')
  t.equal((await manage(ctx, 'GET', client.client_id, client.registration_access_token)).statusCode, 200, 'the token still works')
})

eachDialect(t, (t) => {
  t.test('without client_name, a host longer than a name may be is cut to 255 characters, never a 500', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    const host = `${'a'.repeat(300)}.com`
    const res = await register(ctx, { redirect_uris: [`https://${host}/cb`] })
    t.equal(res.statusCode, 201)
    t.equal(res.json().client_name, host.slice(0, 255))
    t.equal((await ctx.repos.clients.findById(res.json().client_id))?.name, host.slice(0, 255))
    const scheme = `com.${'b'.repeat(300)}`
    const named = await register(ctx, { redirect_uris: [`${scheme}:/cb`] })
    t.equal(named.statusCode, 201)
    t.equal(named.json().client_name, scheme.slice(0, 255))
  })
})

t.test('registrations are capped per hour across all addresses: 429 with Retry-After; refused requests do not count', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
  const events: AuditEvent[] = []
  const audit = { record: (event: AuditEvent) => void events.push(event) }
  const registry = registrations({
    repos: ctx.repos,
    transaction: inTransaction(ctx.store),
    clock: ctx.clock,
    issuer: ctx.config.issuer,
    config: ctx.config.registration,
    grants: BUILT_IN_GRANTS,
    maxRegistrationsPerHour: 2,
  })
  const attempt = (ip: string, body: unknown = PUBLIC_APP) => registry.register({ body, initialAccessToken: undefined, ip, audit })
  t.equal((await attempt('192.0.2.1')).status, 201)
  await t.rejects(attempt('192.0.2.2', { client_name: 'no redirect URI' }), { code: 'invalid_redirect_uri' })
  t.equal((await attempt('192.0.2.3')).status, 201, 'a refused registration did not use up the cap')
  ctx.clock.advance(600)
  await t.rejects(attempt('198.51.100.4'), { code: 'invalid_request', status: 429, retryAfterSeconds: 3000, message: /too many registrations on this server/ })
  await t.rejects(attempt('2001:db8::5'), { status: 429, message: /on this server/ }, 'from any address')
  t.same(events.filter((e) => e.event === 'registration_throttled'), [{ event: 'registration_throttled', limit: 'server', retryAfterSeconds: 3000 }], 'audited once per window')
  t.equal((await ctx.store.db.selectFrom('clients').select('id').execute()).length, 2)
  ctx.clock.advance(3000)
  t.equal((await attempt('198.51.100.4')).status, 201, 'a new window')

  // Through HTTP, the default cap (MAX_REGISTRATIONS_PER_HOUR) in the RFC 7591 error format.
  await ctx.store.db.updateTable('failure_counters').set({ failures: MAX_REGISTRATIONS_PER_HOUR }).where('key_hash', '=', REGISTRATIONS_KEY).execute()
  const limited = await register(ctx, PUBLIC_APP, {}, '203.0.113.9')
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) >= 1)
  t.equal(limited.headers['cache-control'], 'no-store')
  t.match(limited.json(), { error: 'invalid_request', error_description: /too many registrations on this server/ })
})

eachDialect(t, (t) => {
  t.test('the purge keeps a self-registered client while a refresh token of a family not revoked is valid', async (t) => {
    const DAY = 86_400
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open', REGISTRATION_UNUSED_DAYS: '2', REFRESH_TOKEN_TTL: String(4 * DAY) } })
    await createUser(ctx)
    const registered = async () => {
      const json = (await register(ctx, PUBLIC_APP)).json()
      return { client_id: json.client_id as string, redirectUri: (json.redirect_uris as string[])[0] as string }
    }
    const redeem = async (client: { client_id: string; redirectUri: string }) => {
      const { code, verifier } = await obtainCode(ctx, client)
      const res = await exchange(ctx.app, { grant_type: 'authorization_code', client_id: client.client_id, code, code_verifier: verifier, redirect_uri: client.redirectUri })
      t.equal(res.statusCode, 200)
      return res.json().refresh_token as string
    }
    const kept = await registered()
    const revoked = await registered()
    await redeem(kept)
    const refreshToken = await redeem(revoked)
    const revocation = await ctx.app.inject({
      method: 'POST',
      url: '/revoke',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: refreshToken, client_id: revoked.client_id }).toString(),
    })
    t.equal(revocation.statusCode, 200)
    const purge = () => purgeExpired(ctx.store.db, purgePolicy(ctx.config, ctx.clock.now()))
    ctx.clock.advance(2 * DAY + 60)
    t.equal((await purge()).clients, 1, 'unused for REGISTRATION_UNUSED_DAYS, its family revoked: purged')
    t.equal(await ctx.repos.clients.findById(revoked.client_id), undefined)
    t.ok(await ctx.repos.clients.findById(kept.client_id), 'its refresh token is still valid: kept')
    ctx.clock.advance(2 * DAY)
    t.equal((await purge()).clients, 1, 'once the refresh token has expired, it goes')
    t.equal(await ctx.repos.clients.findById(kept.client_id), undefined)
  })
})

t.test('client_name refuses invisible and text-direction characters, and C1 controls', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open', LIMIT_REGISTRATIONS_PER_ADDRESS: '1000' } })
  const refused = ['\u061c', '\u200b', '\u200d', '\u200e', '\u200f', '\u2028', '\u2029', '\u202a', '\u202e', '\u2060', '\u2066', '\u2069', '\ufeff', '\u0080', '\u0085', '\u009f']
  for (const c of refused) {
    const res = await register(ctx, { ...PUBLIC_APP, client_name: `Acme${c}evil` })
    const code = `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`
    t.equal(res.statusCode, 400, code)
    t.match(res.json(), { error: 'invalid_client_metadata', error_description: /client_name/ }, code)
  }
  const registered = await register(ctx, { ...PUBLIC_APP, client_name: 'Acme\u202Eevil' })
  t.equal(registered.statusCode, 400, 'the reported case')
  const put = (await register(ctx, PUBLIC_APP)).json()
  const update = await manage(ctx, 'PUT', put.client_id, put.registration_access_token, { ...PUBLIC_APP, client_id: put.client_id, client_name: 'Acme\u202Eevil' })
  t.equal(update.json().error, 'invalid_client_metadata', 'nor by an RFC 7592 update')
  for (const name of ['Café Agent', 'وكيل الصور', 'フォト', 'Agent\u00a0One']) {
    t.equal((await register(ctx, { ...PUBLIC_APP, client_name: name })).statusCode, 201, `${name} is a name`)
  }
  t.equal((await ctx.store.db.selectFrom('clients').select('id').execute()).length, 5)
})
