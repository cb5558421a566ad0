import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, newPkce, obtainCode, verifyAccessToken } from '../helpers/oauth.js'
import { sha256Hex } from '../../src/oauth/secrets.js'

async function setup(t: Test, env: Record<string, string> = {}, extra: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env })
  await createUser(ctx)
  const client = await createClient(ctx, extra.resource ? { resources: [extra.resource] } : {})
  const auth = { authorization: basic(client.client_id, client.client_secret as string) }
  const { code, verifier } = await obtainCode(ctx, client, extra)
  const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }
  return { ctx, client, auth, form }
}

function assertInvalidGrant(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string; error_description: string } }, description: RegExp) {
  t.equal(res.statusCode, 400)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, 'invalid_grant')
  t.match(res.json().error_description, description)
}

eachDialect(t, (t) => {
  t.test('a wrong, missing or malformed code_verifier is invalid_grant and leaves the code usable', async (t) => {
    const { ctx, auth, form } = await setup(t)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, code_verifier: newPkce().verifier }, auth), /does not match/)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, code_verifier: 'short' }, auth), /does not match/)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, code_verifier: '' }, auth), /code_verifier is required/)
    t.equal((await exchange(ctx.app, form, auth)).statusCode, 200)
  })

  t.test('redirect_uri must equal the one of the authorization request', async (t) => {
    const { ctx, auth, form } = await setup(t)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, redirect_uri: 'https://app.example.com/other' }, auth), /redirect_uri/)
    const withoutRedirect: Record<string, string> = { ...form }
    delete withoutRedirect.redirect_uri
    assertInvalidGrant(t, await exchange(ctx.app, withoutRedirect, auth), /redirect_uri/)
  })

  t.test('a code issued to another client is invalid_grant', async (t) => {
    const { ctx, form } = await setup(t)
    const other = await createClient(ctx)
    assertInvalidGrant(t, await exchange(ctx.app, form, { authorization: basic(other.client_id, other.client_secret as string) }), /another client/)
  })

  t.test('an unknown code is invalid_grant and a missing code invalid_request', async (t) => {
    const { ctx, auth, form } = await setup(t)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, code: 'nope' }, auth), /unknown/)
    const missing = await exchange(ctx.app, { ...form, code: '' }, auth)
    t.equal(missing.json().error, 'invalid_request')
  })

  t.test('a code expires after CODE_TTL seconds (fake clock)', async (t) => {
    const { ctx, auth, form } = await setup(t, { CODE_TTL: '30' })
    ctx.clock.advance(30)
    assertInvalidGrant(t, await exchange(ctx.app, form, auth), /expired/)
  })

  t.test('a code is accepted just before it expires', async (t) => {
    const { ctx, auth, form } = await setup(t)
    ctx.clock.advance(59)
    t.equal((await exchange(ctx.app, form, auth)).statusCode, 200)
  })

  t.test('a replayed code is refused and revokes the family and access tokens it yielded', async (t) => {
    const { ctx, auth, form } = await setup(t)
    const first = await exchange(ctx.app, form, auth)
    t.equal(first.statusCode, 200)
    const { payload } = await verifyAccessToken(ctx, first.json().access_token)
    const jti = payload.jti as string
    t.equal(await ctx.repos.accessTokens.isRevoked(jti), false)
    const replay = await exchange(ctx.app, form, auth)
    assertInvalidGrant(t, replay, /already been used/)
    t.equal(await ctx.repos.accessTokens.isRevoked(jti), true, 'access token revoked')
    const record = await ctx.repos.accessTokens.findByJti(jti)
    const family = await ctx.repos.refreshTokens.findFamily(record?.familyId as string)
    t.equal(family?.revokedAt, ctx.clock.now(), 'family revoked')
  })

  t.test('a replay with a wrong verifier, redirect_uri or client revokes nothing', async (t) => {
    const { ctx, auth, form } = await setup(t)
    const first = await exchange(ctx.app, form, auth)
    const { payload } = await verifyAccessToken(ctx, first.json().access_token)
    const other = await createClient(ctx)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, code_verifier: newPkce().verifier }, auth), /does not match/)
    assertInvalidGrant(t, await exchange(ctx.app, { ...form, redirect_uri: 'https://x.example/cb' }, auth), /redirect_uri/)
    assertInvalidGrant(t, await exchange(ctx.app, form, { authorization: basic(other.client_id, other.client_secret as string) }), /another client/)
    const badSecret = await exchange(ctx.app, form, { authorization: basic(JSON.parse(JSON.stringify(payload.client_id)), 'wrong') })
    t.equal(badSecret.statusCode, 401)
    t.equal(await ctx.repos.accessTokens.isRevoked(payload.jti as string), false)
    const record = await ctx.repos.accessTokens.findByJti(payload.jti as string)
    t.equal((await ctx.repos.refreshTokens.findFamily(record?.familyId as string))?.revokedAt, null)
  })

  t.test('concurrent redemptions of one code yield exactly one token', async (t) => {
    const { ctx, auth, form } = await setup(t)
    const results = await Promise.all(Array.from({ length: 5 }, () => exchange(ctx.app, form, auth)))
    t.equal(results.filter((r) => r.statusCode === 200).length, 1)
    t.equal(results.filter((r) => r.statusCode === 400).length, 4)
    const families = await ctx.store.db.selectFrom('refresh_token_families').selectAll().execute()
    t.equal(families.length, 1)
  })

  t.test('the code is stored only as its SHA-256 and bound to its request', async (t) => {
    const { ctx, client, form } = await setup(t, {}, { scope: 'openid', resource: 'https://api.example.com' })
    const rows = await ctx.store.db.selectFrom('authorization_codes').selectAll().execute()
    t.equal(rows.length, 1)
    t.equal(rows[0]?.code_hash, sha256Hex(form.code))
    t.notOk(JSON.stringify(rows).includes(form.code), 'plain code nowhere in the table')
    t.match(await ctx.repos.codes.findByHash(sha256Hex(form.code)), {
      clientId: client.client_id,
      redirectUri: client.redirectUri,
      scopes: ['openid'],
      resource: 'https://api.example.com',
      codeChallengeMethod: 'S256',
      expiresAt: ctx.clock.now() + 60_000,
    })
  })

  t.test('resource becomes the audience and may be repeated (not changed) at /token', async (t) => {
    const { ctx, auth, form } = await setup(t, {}, { resource: 'https://api.example.com' })
    const changed = await exchange(ctx.app, { ...form, resource: 'https://other.example.com' }, auth)
    t.equal(changed.json().error, 'invalid_target')
    const res = await exchange(ctx.app, { ...form, resource: 'https://api.example.com' }, auth)
    const { payload } = await verifyAccessToken(ctx, res.json().access_token)
    t.equal(payload.aud, 'https://api.example.com')
  })

  t.test('PKCE_REQUIRED=public: a confidential client may omit PKCE, but a verifier for such a code is a downgrade', async (t) => {
    const ctx = await buildTestApp(t, { env: { PKCE_REQUIRED: 'public' } })
    await createUser(ctx)
    const client = await createClient(ctx)
    const auth = { authorization: basic(client.client_id, client.client_secret as string) }
    const noPkce = { code_challenge: undefined, code_challenge_method: undefined }
    const a = await obtainCode(ctx, client, noPkce)
    assertInvalidGrant(t, await exchange(ctx.app, { grant_type: 'authorization_code', code: a.code, redirect_uri: client.redirectUri, code_verifier: newPkce().verifier }, auth), /without PKCE/)
    const ok = await exchange(ctx.app, { grant_type: 'authorization_code', code: a.code, redirect_uri: client.redirectUri }, auth)
    t.equal(ok.statusCode, 200)
  })

  t.test('a code issued without PKCE is refused once PKCE_REQUIRED=all', async (t) => {
    const ctx = await buildTestApp(t, { env: { PKCE_REQUIRED: 'public' } })
    await createUser(ctx)
    const client = await createClient(ctx)
    const { code } = await obtainCode(ctx, client, { code_challenge: undefined, code_challenge_method: undefined })
    const strict = await buildTestApp(t)
    // Same database, stricter configuration.
    const { buildApp } = await import('../../src/app.js')
    const app = await buildApp({ ...strict.config, pkceRequired: 'all' }, { store: ctx.store, keys: ctx.keys, clock: ctx.clock })
    t.teardown(() => app.close())
    const res = await exchange(app, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri }, { authorization: basic(client.client_id, client.client_secret as string) })
    assertInvalidGrant(t, res, /must use/)
  })
})
