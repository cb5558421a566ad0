import t, { type Test } from 'tap'
import { NO_AUDIT } from '../../src/audit.js'
import { decodeProtectedHeader } from 'jose'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loadKeyStore } from '../../src/keys/key-store.js'
import { retireKey, rotateKeys } from '../../src/keys/key-writer.js'
import { accessTokenSigner } from '../../src/tokens/access-token.js'
import { rotationPolicy } from '../../src/keys/key-timeline.js'
import { repositories } from '../../src/storage/repositories.js'
import type { TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'
import type { Browser } from '../helpers/browser.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const BYE = 'https://app.example.com/bye'

/** An app on its own KEYS_DIR and fake clock, so the test can rotate and move time. */
async function setup(t: Test) {
  const dir = t.testdir()
  const clock = new FakeClock()
  const config = loadConfig({ ISSUER: 'http://localhost:3000', ACCESS_TOKEN_TTL: '3600', KEY_PUBLISH_DELAY: '600' })
  const keys = await loadKeyStore(dir, { clock })
  const store = await dialectOf(t).open(t)
  const app = await buildApp(config, { store, keys, clock, passwords: testPasswords })
  t.teardown(() => app.close())
  const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid profile', postLogoutRedirectUris: [BYE] })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const policy = rotationPolicy(config)
  const issue = async () => {
    const { code, verifier, browser } = await obtainCode(ctx, client, { scope: 'openid profile' })
    const res = await exchange(app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, auth)
    const body = res.json() as { access_token: string; id_token: string }
    return { ...body, browser, kid: decodeProtectedHeader(body.access_token).kid, idKid: decodeProtectedHeader(body.id_token).kid }
  }
  return { dir, clock, keys, app, auth, policy, issue, clientId: client.client_id, userId: user.id, config }
}

type Setup = Awaited<ReturnType<typeof setup>>
type Issued = Awaited<ReturnType<Setup['issue']>>

async function accepted(s: Setup, tokens: Issued) {
  const userinfo = await s.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })
  const introspection = await s.app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, ...s.auth }, payload: new URLSearchParams({ token: tokens.access_token }).toString() })
  return { userinfo: userinfo.statusCode === 200, introspect: (introspection.json() as { active: boolean }).active }
}

/** The logout hint's fate: a valid hint for the session logs out at once (303); an absent one asks first (200). */
async function logoutWithHint(s: Setup, browser: Browser, hint: string) {
  const res = await browser.get(`/logout?${new URLSearchParams({ id_token_hint: hint, client_id: s.clientId, post_logout_redirect_uri: BYE })}`)
  return res.statusCode === 303 ? 'logged out' : res.body.includes('action="/logout/confirm"') ? 'asked to confirm' : `unexpected ${res.statusCode}`
}

async function published(s: Setup) {
  const res = await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  return { kids: (res.json() as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort(), cacheControl: res.headers['cache-control'] }
}

eachDialect(t, (t) => {
  t.test('a rotation timeline: next → current → previous → retired, and what each verifier accepts on the way', async (t) => {
    const s = await setup(t)
    const a = s.keys.signingKey().kid
    const beforeRotation = await s.issue()
    t.equal(beforeRotation.kid, a)
    t.equal(beforeRotation.idKid, a, 'ID tokens use the same current key')
    t.same(await published(s), { kids: [a], cacheControl: 'public, max-age=300' }, 'max-age is below the publish delay')

    // keys rotate: B is published at once, and does not sign yet.
    s.clock.advance(60)
    const b = (await rotateKeys(s.dir, { now: () => s.clock.now(), alg: 'RS256', immediate: false, policy: s.policy, audit: NO_AUDIT }))!.kid
    await s.keys.reload()
    t.same((await published(s)).kids, [a, b].sort(), 'next: published at once')
    const duringDelay = await s.issue()
    t.same([duringDelay.kid, duringDelay.idKid], [a, a], 'next: A still signs')
    t.same(s.keys.list().map((k) => [k.kid, k.status]), [[a, 'current'], [b, 'next']])

    // Once the delay is over, B signs and A is previous, without any reload.
    s.clock.advance(600)
    t.same(s.keys.list().map((k) => [k.kid, k.status]), [[a, 'previous'], [b, 'current']])
    const afterRotation = await s.issue()
    t.same([afterRotation.kid, afterRotation.idKid], [b, b], 'current: B signs access and ID tokens')
    t.same((await published(s)).kids, [a, b].sort(), 'previous: A still published')
    for (const [name, tokens] of Object.entries({ beforeRotation, duringDelay, afterRotation })) {
      t.same(await accepted(s, tokens), { userinfo: true, introspect: true }, `${name}: accepted at /userinfo and /introspect`)
    }
    t.equal(await logoutWithHint(s, duringDelay.browser, duringDelay.id_token), 'logged out', 'a hint signed by the previous key still counts')

    // A stays published until what it signed can have expired: its last token + TTL + tolerance.
    const aRetires = Date.parse(s.keys.list().find((k) => k.kid === a)!.retires_at!)
    t.equal(aRetires, s.clock.now() + (3600 + 60) * 1000, 'retires one token lifetime plus the clock tolerance after it last signed')
    s.clock.advance(3600 + 59)
    t.same((await published(s)).kids, [a, b].sort())
    s.clock.advance(1)
    t.same(s.keys.list().map((k) => [k.kid, k.status]), [[a, 'retired'], [b, 'current']])
    t.same((await published(s)).kids, [b], 'retired: no longer published')
    const later = await s.issue()
    t.same(await accepted(s, later), { userinfo: true, introspect: true })
  })

  t.test('retiring a leaked key: its unexpired tokens stop verifying at once, its hints count as absent', async (t) => {
    const s = await setup(t)
    const leaked = s.keys.signingKey().kid
    const issued = await s.issue()
    t.same(await accepted(s, issued), { userinfo: true, introspect: true })

    s.clock.advance(10)
    const retired = await retireKey(s.dir, leaked, { now: () => s.clock.now(), audit: NO_AUDIT })
    t.equal(retired.status, 'retired')
    await s.keys.reload()
    const replacement = s.keys.signingKey().kid
    t.not(replacement, leaked, 'a new key signs at once')
    t.same((await published(s)).kids, [replacement])
    t.same(await accepted(s, issued), { userinfo: false, introspect: false }, 'the leaked key no longer verifies, though the token has not expired')
    t.equal(await logoutWithHint(s, issued.browser, issued.id_token), 'asked to confirm', 'its logout hint counts as absent')

    const fresh = await s.issue()
    t.same([fresh.kid, fresh.idKid], [replacement, replacement])
    t.same(await accepted(s, fresh), { userinfo: true, introspect: true })
  })

  t.test('rotate --now: the new key signs at once, tokens of the old one keep verifying', async (t) => {
    const s = await setup(t)
    const a = s.keys.signingKey().kid
    const old = await s.issue()
    s.clock.advance(5)
    const created = (await rotateKeys(s.dir, { now: () => s.clock.now(), alg: 'RS256', immediate: true, policy: s.policy, audit: NO_AUDIT }))!
    t.equal(created.status, 'current')
    await s.keys.reload()
    const fresh = await s.issue()
    t.same([fresh.kid, old.kid], [created.kid, a])
    t.same(await accepted(s, old), { userinfo: true, introspect: true })
    t.same(await accepted(s, fresh), { userinfo: true, introspect: true })
  })

  t.test("a token signed by another instance's brand-new key verifies here at once, before the next poll", async (t) => {
    const s = await setup(t)
    // Another instance on the same KEYS_DIR: it rotates with --now and signs with the new key.
    const other = await loadKeyStore(s.dir, { clock: s.clock })
    s.clock.advance(5)
    const created = (await rotateKeys(s.dir, { now: () => s.clock.now(), alg: 'RS256', immediate: true, policy: s.policy, audit: NO_AUDIT }))!
    await other.reload()
    const signer = accessTokenSigner({ keys: other, clock: s.clock, issuer: s.config.issuer, ttlSeconds: 600 })
    const { token } = await signer.issue({ subject: s.userId, clientId: s.clientId, audience: 'http://localhost:4000', scopes: ['openid'], authTime: s.clock.now() })
    t.equal(decodeProtectedHeader(token).kid, created.kid)
    t.notOk(s.keys.jwks().keys.some((k) => k.kid === created.kid), 'this instance has not polled yet')
    const res = await s.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, 'the unknown kid made it read KEYS_DIR once more')
    const forged = await s.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } })
    t.equal(forged.statusCode, 401)
  })

  t.test("a token another instance signed with a first key of a new algorithm verifies here at once too", async (t) => {
    const s = await setup(t)
    // Another instance (SIGNING_ALG=ES256) makes the first ES256 key with --now; this one runs
    // RS256 and has seen no ES256 key, so ES256 is not yet among the algorithms it allows.
    const other = await loadKeyStore(s.dir, { clock: s.clock })
    s.clock.advance(5)
    const created = (await rotateKeys(s.dir, { now: () => s.clock.now(), alg: 'ES256', immediate: true, policy: s.policy, audit: NO_AUDIT }))!
    await other.reload()
    const signer = accessTokenSigner({ keys: other, clock: s.clock, issuer: s.config.issuer, ttlSeconds: 600, alg: 'ES256' })
    const { token } = await signer.issue({ subject: s.userId, clientId: s.clientId, audience: 'http://localhost:4000', scopes: ['openid'], authTime: s.clock.now() })
    t.match(decodeProtectedHeader(token), { alg: 'ES256', kid: created.kid })
    t.notOk(s.keys.jwks().keys.some((k) => k.alg === 'ES256'), 'this instance has not polled yet')
    const res = await s.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, 'the algorithm not yet allowed made it read KEYS_DIR once more')
  })

  t.test('KEY_PUBLISH_DELAY sets the JWKS max-age; none at all means no-cache', async (t) => {
    const clock = new FakeClock()
    for (const [delay, expected] of [['120', 'public, max-age=60'], ['0', 'no-cache']]) {
      const config = loadConfig({ ISSUER: 'http://localhost:3000', KEY_PUBLISH_DELAY: delay })
      const app = await buildApp(config, { store: await dialectOf(t).open(t), keys: await loadKeyStore(t.testdir(), { clock }), clock, passwords: testPasswords })
      t.teardown(() => app.close())
      t.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).headers['cache-control'], expected, `KEY_PUBLISH_DELAY=${delay}`)
    }
  })
})
