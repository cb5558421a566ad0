import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { NO_AUDIT, type AuditEvent } from '../../src/audit.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loadKeyStore, type KeyStore } from '../../src/keys/key-store.js'
import { rotationPolicy } from '../../src/keys/key-timeline.js'
import { retireKey } from '../../src/keys/key-writer.js'
import { repositories } from '../../src/storage/repositories.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { fixtureKeyPair, fixtureKeyStore, fixtureMultiAlgKeyStore } from '../helpers/keys.js'
import { basic, createClient, createUser, exchange, obtainCode } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** A user, an openid client, and a way to get tokens through the code flow and to check them. */
async function flows(ctx: TestApp) {
  await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid profile' })
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const issue = async () => {
    const { code, verifier } = await obtainCode(ctx, client, { scope: 'openid profile' })
    const res = await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }, auth)
    const body = res.json() as { access_token: string; id_token: string; refresh_token: string }
    return { ...body, access: decodeProtectedHeader(body.access_token), id: decodeProtectedHeader(body.id_token) }
  }
  const accepted = async (token: string) => {
    const userinfo = await ctx.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${token}` } })
    const introspection = await ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...FORM, ...auth }, payload: new URLSearchParams({ token }).toString() })
    return { userinfo: userinfo.statusCode, introspect: (introspection.json() as { active: boolean }).active }
  }
  const revoke = (token: string) =>
    ctx.app.inject({ method: 'POST', url: '/revoke', headers: { ...FORM, ...auth }, payload: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString() })
  return { client, issue, accepted, revoke }
}

const kidOf = (keys: KeyStore, alg: 'RS256' | 'ES256' | 'EdDSA') => keys.signingKey(alg).kid

for (const alg of ['ES256', 'EdDSA'] as const) {
  t.test(`SIGNING_ALG=${alg}: access tokens in ${alg}, ID tokens RS256, both accepted by latchkey's own verifiers`, async (t) => {
    const keys = await fixtureMultiAlgKeyStore()
    const ctx = await buildTestApp(t, { env: { SIGNING_ALG: alg }, keys })
    const f = await flows(ctx)
    const issued = await f.issue()
    t.same(issued.access, { alg, kid: kidOf(keys, alg), typ: 'at+jwt' }, 'access token header')
    t.same(issued.id, { alg: 'RS256', kid: kidOf(keys, 'RS256'), typ: 'JWT' }, 'ID token stays RS256 (OIDC Discovery §3)')
    // A resource server pinning the advertised algorithms verifies it against the JWKS.
    const discovery = (await ctx.app.inject({ url: '/.well-known/openid-configuration' })).json() as Record<string, unknown>
    const jwks = (await ctx.app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Array<Record<string, string>> }
    await t.resolves(
      jwtVerify(issued.access_token, createLocalJWKSet(jwks as never), { algorithms: discovery.access_token_signing_alg_values_supported as string[], typ: 'at+jwt', currentDate: new Date(ctx.clock.now()) }),
    )
    t.same(await f.accepted(issued.access_token), { userinfo: 200, introspect: true }, '/userinfo and /introspect accept it')
    // Refreshing issues the same algorithms.
    const refreshed = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, { authorization: basic(f.client.client_id, f.client.client_secret as string) })
    const body = refreshed.json() as { access_token: string; id_token: string }
    t.equal(decodeProtectedHeader(body.access_token).alg, alg)
    t.equal(decodeProtectedHeader(body.id_token).alg, 'RS256')
    t.equal((await f.revoke(issued.access_token)).statusCode, 200)
    t.same(await f.accepted(issued.access_token), { userinfo: 401, introspect: false }, '/revoke read it: revoked')
  })
}

eachDialect(t, (t) => {
  t.test('JWKS and discovery with SIGNING_ALG=ES256', async (t) => {
    const keys = await fixtureMultiAlgKeyStore()
    const ctx = await buildTestApp(t, { env: { SIGNING_ALG: 'ES256' }, keys })
    const jwks = (await ctx.app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Array<Record<string, string>> }
    t.same(jwks.keys.map((k) => [k.alg, k.use, k.kid, k.kty]).sort(), [
      ['ES256', 'sig', kidOf(keys, 'ES256'), 'EC'],
      ['EdDSA', 'sig', kidOf(keys, 'EdDSA'), 'OKP'],
      ['RS256', 'sig', kidOf(keys, 'RS256'), 'RSA'],
    ].sort(), 'every published key with its alg, use and kid')
    t.notOk(jwks.keys.some((k) => 'd' in k), 'public parts only')
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const doc = (await ctx.app.inject({ url: path })).json() as Record<string, unknown>
      t.same(doc.id_token_signing_alg_values_supported, ['RS256'], `${path}: ID tokens RS256 only`)
      t.same(doc.access_token_signing_alg_values_supported, ['RS256', 'ES256'], `${path}: access tokens RS256 and SIGNING_ALG`)
    }
    const plain = await buildTestApp(t)
    const doc = (await plain.app.inject({ url: '/.well-known/openid-configuration' })).json() as Record<string, unknown>
    t.same(doc.access_token_signing_alg_values_supported, ['RS256'], 'default: RS256 only')
  })

  t.test("latchkey's verifiers: an algorithm of no published key is refused, and a key only verifies its own alg", async (t) => {
    const ctx = await buildTestApp(t, { env: { SIGNING_ALG: 'ES256' }, keys: await fixtureKeyStore() })
    const f = await flows(ctx)
    const issued = await f.issue()
    t.equal(issued.access.alg, 'RS256', 'no ES256 key in this KEYS_DIR: RS256 signs')
    const es = await fixtureKeyPair('ES256')
    const forge = (kid: string) =>
      new SignJWT({ client_id: f.client.client_id, scope: 'openid', jti: 'forged' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(ctx.config.issuer)
        .setSubject('someone')
        .setAudience('http://localhost:4000')
        .setIssuedAt(Math.floor(ctx.clock.now() / 1000))
        .setExpirationTime(Math.floor(ctx.clock.now() / 1000) + 600)
        .sign(es.privateKey)
    t.same(await f.accepted(await forge(issued.access.kid!)), { userinfo: 401, introspect: false }, 'ES256 header with the RS256 key\'s kid')
    t.same(await f.accepted(await forge('unknown')), { userinfo: 401, introspect: false }, 'ES256 with an unpublished key')
  })

  /** An app on its own KEYS_DIR (RS256 only) and fake clock, so the test can change SIGNING_ALG and move time. */
  async function ownDir(t: Test, env: Record<string, string>, dir = t.testdir(), clock = new FakeClock()) {
    const config = loadConfig({ ISSUER: 'http://localhost:3000', ACCESS_TOKEN_TTL: '3600', KEY_PUBLISH_DELAY: '600', ...env })
    const keys = await loadKeyStore(dir, { clock })
    const store = await dialectOf(t).open(t)
    const app = await buildApp(config, { store, keys, clock, passwords: testPasswords })
    t.teardown(() => app.close())
    const ctx: TestApp = { app, config, store, keys, clock, repos: repositories(store) }
    return { ctx, dir, config, keys, clock, f: await flows(ctx) }
  }

  t.test('changing SIGNING_ALG is a rotation: the new key is published at once, RS256 signs until the delay has passed', async (t) => {
    const s = await ownDir(t, { SIGNING_ALG: 'ES256' })
    const rs = kidOf(s.keys, 'RS256')
    const audit: AuditEvent[] = []
    const created = (await s.keys.ensureKey('ES256', { policy: rotationPolicy(s.config), audit: { record: (e) => audit.push(e) } }))!
    t.match(created, { alg: 'ES256', status: 'next', signs_from: new Date(s.clock.now() + 600_000).toISOString() })
    t.match(audit, [{ event: 'key_rotated', kid: created.kid, alg: 'ES256', by: 'configuration' }])
    t.equal(await s.keys.ensureKey('ES256', { policy: rotationPolicy(s.config), audit: NO_AUDIT }), undefined, 'a second start finds it')
    const jwks = (await s.ctx.app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Array<{ kid: string; alg: string }> }
    t.same(jwks.keys.map((k) => [k.alg, k.kid]).sort(), [['ES256', created.kid], ['RS256', rs]], 'published at once, beside the RS256 key')

    const before = await s.f.issue()
    t.same([before.access.alg, before.access.kid, before.id.alg], ['RS256', rs, 'RS256'], 'during the delay: RS256 signs access tokens')
    s.clock.advance(599)
    t.equal((await s.f.issue()).access.kid, rs, 'a second before the delay ends: still RS256')
    s.clock.advance(1)
    const after = await s.f.issue()
    t.same([after.access.alg, after.access.kid], ['ES256', created.kid], 'once the delay has passed: the new algorithm')
    t.same([after.id.alg, after.id.kid], ['RS256', rs], 'ID tokens stay RS256')
    t.same(await s.f.accepted(before.access_token), { userinfo: 200, introspect: true }, 'the RS256 token of the delay still verifies')
    t.same(await s.f.accepted(after.access_token), { userinfo: 200, introspect: true })
    t.same(s.keys.list().map((k) => [k.alg, k.status]).sort(), [['ES256', 'current'], ['RS256', 'current']], 'the RS256 key always signs (ID tokens)')

    // Back to RS256: the ES256 key stays published, so what it signed keeps verifying until it is retired.
    const back = await buildApp(loadConfig({ ISSUER: 'http://localhost:3000', SIGNING_ALG: 'RS256' }), { store: s.ctx.store, keys: s.keys, clock: s.clock, passwords: testPasswords })
    t.teardown(() => back.close())
    const userinfo = await back.inject({ method: 'GET', url: '/userinfo', headers: { authorization: `Bearer ${after.access_token}` } })
    t.equal(userinfo.statusCode, 200, 'SIGNING_ALG=RS256 still accepts a valid ES256 token of a published key')
    const doc = (await back.inject({ url: '/.well-known/openid-configuration' })).json() as Record<string, unknown>
    t.same(doc.access_token_signing_alg_values_supported, ['RS256'])
    t.ok(((await back.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Array<{ alg: string }> }).keys.some((k) => k.alg === 'ES256'), 'the ES256 key stays published')

    // Retiring the ES256 key: access tokens fall back to RS256 at once; the server makes a new one, published before it signs.
    await retireKey(s.dir, created.kid, { now: () => s.clock.now(), audit: NO_AUDIT })
    await s.keys.reload()
    t.equal(s.keys.accessTokenKey('ES256').kid, rs, 'no ES256 key signs: RS256, never a key nobody has fetched')
    t.same(await s.f.accepted(after.access_token), { userinfo: 401, introspect: false }, 'the retired key no longer verifies')
    t.equal((await s.f.issue()).access.alg, 'RS256')
    const again = (await s.keys.ensureKey('ES256', { policy: rotationPolicy(s.config), audit: NO_AUDIT }))!
    t.match(again, { alg: 'ES256', status: 'next' }, 'a new ES256 key waits the delay')
  })

  t.test('two instances starting together on one KEYS_DIR create one key of SIGNING_ALG', async (t) => {
    const dir = t.testdir()
    const clock = new FakeClock()
    await loadKeyStore(dir, { clock })
    const [a, b] = await Promise.all([loadKeyStore(dir, { clock }), loadKeyStore(dir, { clock })])
    const policy = { publishDelaySeconds: 600, retentionSeconds: 3660 }
    const created = await Promise.all([a!.ensureKey('EdDSA', { policy, audit: NO_AUDIT }), b!.ensureKey('EdDSA', { policy, audit: NO_AUDIT })])
    t.equal(created.filter((c) => c !== undefined).length, 1, 'one of them creates it, the other finds it once it holds the lock')
    const files = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    const algs = await Promise.all(files.map(async (n) => (JSON.parse(await readFile(join(dir, n), 'utf8')) as { alg: string }).alg))
    t.same(algs.sort(), ['EdDSA', 'RS256'])
    t.same(a!.jwks().keys.map((k) => k.alg).sort(), b!.jwks().keys.map((k) => k.alg).sort(), 'both publish it')
  })
})
