import { randomUUID } from 'node:crypto'
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { addClient } from '../../src/admin/clients.js'
import { addUser } from '../../src/admin/users.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import type { AuthorizationCode } from '../../src/storage/authorization-codes.js'
import type { Client } from '../../src/storage/clients.js'
import { repositories } from '../../src/storage/repositories.js'
import { accessTokenSigner } from '../../src/tokens/access-token.js'
import { idTokenSigner } from '../../src/tokens/id-token.js'
import { tokenResponses } from '../../src/tokens/token-response.js'
import { testPasswords } from '../helpers/passwords.js'
import { FakeClock } from '../helpers/clock.js'
import { sqliteCase } from '../helpers/db.js'
import { NO_AUDIT, type AuditEvent } from '../../src/audit.js'

const ISSUER = 'http://localhost:3000'
const AUDIENCE = 'http://localhost:4000'

async function setup(t: Test) {
  const store = await sqliteCase.open(t)
  const repos = repositories(store)
  const keys = await fixtureKeyStore()
  const clock = new FakeClock()
  const tokens = tokenResponses({
    accessTokens: accessTokenSigner({ keys, clock, issuer: ISSUER, ttlSeconds: 600 }),
    idTokens: idTokenSigner({ keys, clock, issuer: ISSUER, ttlSeconds: 600 }),
    codes: repos.codes,
    refreshTokens: repos.refreshTokens,
    users: repos.users,
    clock,
    refreshTokenTtlSeconds: 3600,
    refreshTokenMaxTtlSeconds: 7200,
  })
  const user = await addUser({ users: repos.users, passwords: testPasswords, clock, audit: NO_AUDIT }, { username: 'alice', password: 'correct horse battery' })
  const clientOf = async (grants: string[]): Promise<Client> => {
    const added = await addClient({ clients: repos.clients, scopes: repos.scopes, clock, audit: NO_AUDIT }, { name: 'App', grants, redirectUris: ['https://app.example/cb'] })
    return (await repos.clients.findById(added.client_id)) as Client
  }
  const verify = async (token: string, typ = 'at+jwt') =>
    (await jwtVerify(token, createLocalJWKSet(keys.jwks()), { issuer: ISSUER, typ, currentDate: new Date(clock.now()) })).payload
  const count = async (table: 'access_tokens' | 'refresh_token_families' | 'refresh_tokens') =>
    (await store.db.selectFrom(table).selectAll().execute()).length
  const recorded: AuditEvent[] = []
  const request = { audit: { record: (event: AuditEvent) => void recorded.push(event) }, grantType: 'test_grant' }
  return { store, repos, clock, tokens, user, clientOf, verify, count, request, recorded }
}

type Answer = Awaited<ReturnType<ReturnType<typeof tokenResponses>['forUser']>>

/** The response, failing the test on a refusal. */
function issued(res: Answer): Exclude<Answer, 'userInactive'> {
  if (typeof res === 'string') throw new Error(res)
  return res
}

/** The response or undefined (a lost redemption), failing the test on a refusal. */
function maybeIssued(res: Answer | undefined): Exclude<Answer, 'userInactive'> | undefined {
  return res === undefined ? undefined : issued(res)
}

async function storedCode(ctx: Awaited<ReturnType<typeof setup>>, client: Client, scopes: string[]): Promise<AuthorizationCode> {
  const now = ctx.clock.now()
  const code: AuthorizationCode = {
    id: randomUUID(),
    codeHash: sha256Hex(randomUUID()),
    clientId: client.id,
    userId: ctx.user.id,
    redirectUri: 'https://app.example/cb',
    scopes,
    resource: AUDIENCE,
    codeChallenge: null,
    codeChallengeMethod: null,
    authTime: now - 30_000,
    amr: ['pwd', 'otp', 'mfa'],
    createdAt: now,
    expiresAt: now + 60_000,
    usedAt: null,
    familyId: null,
    nonce: 'n-0S6',
  }
  await ctx.repos.codes.create(code)
  return code
}

t.test('a client token is a bearer token without cnf, and nothing is stored', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['client_credentials', 'refresh_token'])
  const res = await ctx.tokens.forClient({ request: ctx.request, client, scopes: ['read'], audience: AUDIENCE })
  t.same(Object.keys(res).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'never a refresh token')
  t.equal(res.token_type, 'Bearer')
  t.equal(res.expires_in, 600)
  t.equal(res.scope, 'read')
  const claims = await ctx.verify(res.access_token)
  t.equal(claims.sub, client.id)
  t.notOk('cnf' in claims, 'no confirmation claim by default')
  t.notOk('auth_time' in claims)
  t.equal(await ctx.count('access_tokens'), 0)
  t.same(ctx.recorded, [{ event: 'tokens_issued', grant: 'test_grant', clientId: client.id, subject: client.id, jti: claims.jti, familyId: undefined, idToken: false }], 'the issue is recorded, with ids only')
})

t.test('a binding sets token_type and puts its confirmation in the access token as cnf', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['client_credentials'])
  const confirmation = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }
  const res = await ctx.tokens.forClient({ request: ctx.request, client, scopes: [], audience: AUDIENCE, binding: { tokenType: 'Bearer', confirmation } })
  t.equal(res.token_type, 'Bearer')
  t.same((await ctx.verify(res.access_token)).cnf, confirmation)
})

t.test('a user token starts a family (never an OpenID one) only for a client registered for refresh tokens', async (t) => {
  const ctx = await setup(t)
  const withRefresh = await ctx.clientOf(['password', 'refresh_token'])
  const authTime = ctx.clock.now()
  const res = issued(await ctx.tokens.forUser({ request: ctx.request, client: withRefresh, userId: ctx.user.id, scopes: ['openid', 'read'], audience: AUDIENCE, authTime, amr: ['pwd'] }))
  t.type(res.refresh_token, 'string')
  t.notOk(res.id_token, 'no ID token outside OpenID Connect flows')
  const found = await ctx.repos.refreshTokens.findWithFamily(sha256Hex(res.refresh_token as string))
  t.equal(found?.family.beganWithOpenid, false, 'so its refreshes return no ID token either')
  t.same(found?.family.scopes, ['openid', 'read'])
  t.equal(found?.family.authTime, authTime)
  const claims = await ctx.verify(res.access_token)
  t.equal(claims.auth_time, Math.floor(authTime / 1000))
  const record = await ctx.repos.accessTokens.findByJti(claims.jti as string)
  t.equal(record?.familyId, found?.family.id, 'the jti is recorded with its family')

  const without = await ctx.clientOf(['password'])
  const plain = issued(await ctx.tokens.forUser({ request: ctx.request, client: without, userId: ctx.user.id, scopes: ['read'], audience: AUDIENCE, authTime, amr: ['pwd'] }))
  t.notOk(plain.refresh_token)
  t.equal(await ctx.count('refresh_token_families'), 1)
  t.equal(await ctx.count('access_tokens'), 1, 'a token from no family is not recorded')
})

t.test('a code exchange: ID token with the nonce for openid, family and jti in the redemption, once', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['authorization_code', 'refresh_token'])
  const code = await storedCode(ctx, client, ['openid', 'read'])
  const res = maybeIssued(await ctx.tokens.exchangeCode({ request: ctx.request, client, code }))
  t.ok(res)
  t.equal(res?.scope, 'openid read')
  const idClaims = await ctx.verify(res?.id_token as string, 'JWT')
  t.equal(idClaims.nonce, 'n-0S6')
  t.equal(idClaims.auth_time, Math.floor(code.authTime / 1000))
  t.equal(idClaims.aud, client.id)
  const found = await ctx.repos.refreshTokens.findWithFamily(sha256Hex(res?.refresh_token as string))
  t.equal(found?.family.beganWithOpenid, true)
  const record = await ctx.repos.accessTokens.findByJti(decodeJwt(res?.access_token as string).jti as string)
  t.same({ codeId: record?.codeId, familyId: record?.familyId }, { codeId: code.id, familyId: found?.family.id })
  t.same(ctx.recorded, [{ event: 'tokens_issued', grant: 'test_grant', clientId: client.id, subject: ctx.user.id, jti: record?.jti, familyId: found?.family.id, idToken: true }])

  t.equal(await ctx.tokens.exchangeCode({ request: ctx.request, client, code }), undefined, 'a second redemption loses')
  t.equal(ctx.recorded.length, 1, 'nothing issued, nothing recorded')
  t.equal(await ctx.count('access_tokens'), 1, 'and writes nothing')
  t.equal(await ctx.count('refresh_token_families'), 1)
})

t.test('a code exchange without openid has no ID token; a client without refresh tokens gets no family', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['authorization_code'])
  const res = maybeIssued(await ctx.tokens.exchangeCode({ request: ctx.request, client, code: await storedCode(ctx, client, ['read']) }))
  t.same(Object.keys(res ?? {}).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
  t.equal(await ctx.count('refresh_token_families'), 0)
  t.equal(await ctx.count('access_tokens'), 1, 'the jti is recorded against the code')
})

t.test('a refresh rotates within the family: narrowed access token, ID token without nonce, reuse reported', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['authorization_code', 'refresh_token'])
  const code = await storedCode(ctx, client, ['openid', 'read', 'write'])
  const first = maybeIssued(await ctx.tokens.exchangeCode({ request: ctx.request, client, code }))
  const presentedHash = sha256Hex(first?.refresh_token as string)
  const found = await ctx.repos.refreshTokens.findWithFamily(presentedHash)
  const family = found?.family
  if (!family) throw new Error('no family')
  ctx.clock.advance(60)

  const res = await ctx.tokens.refresh({ request: ctx.request, client, family, presentedHash, scopes: ['openid', 'read'] })
  if (typeof res === 'string') throw new Error(res)
  t.equal(res.scope, 'openid read')
  t.not(res.refresh_token, first?.refresh_token)
  const idClaims = await ctx.verify(res.id_token as string, 'JWT')
  t.notOk('nonce' in idClaims, 'OIDC Core §12.2: no nonce on refresh')
  t.equal(idClaims.auth_time, Math.floor(code.authTime / 1000), 'the original auth_time')
  const successor = await ctx.repos.refreshTokens.findWithFamily(sha256Hex(res.refresh_token as string))
  t.same(successor?.family.scopes, ['openid', 'read', 'write'], 'the family keeps its scope')
  const record = await ctx.repos.accessTokens.findByJti(decodeJwt(res.access_token).jti as string)
  t.equal(record?.familyId, family.id)

  const before = await ctx.count('access_tokens')
  t.equal(await ctx.tokens.refresh({ request: ctx.request, client, family, presentedHash, scopes: ['read'] }), 'reused')
  t.equal(await ctx.count('access_tokens'), before, 'nothing written for a reused token')
  await ctx.repos.refreshTokens.revokeFamily(family.id, ctx.clock.now())
  t.equal(await ctx.tokens.refresh({ request: ctx.request, client, family, presentedHash: sha256Hex(res.refresh_token as string), scopes: ['read'] }), 'revoked')
})

t.test('a user disabled after the checks (a disable racing a sign-in) gets nothing from any issue, and nothing is written', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['authorization_code', 'refresh_token', 'password'])
  const code = await storedCode(ctx, client, ['openid', 'read'])
  const first = maybeIssued(await ctx.tokens.exchangeCode({ request: ctx.request, client, code: await storedCode(ctx, client, ['read']) }))
  const presentedHash = sha256Hex(first?.refresh_token as string)
  const family = (await ctx.repos.refreshTokens.findWithFamily(presentedHash))?.family
  if (!family) throw new Error('no family')
  const counts = async () => [await ctx.count('access_tokens'), await ctx.count('refresh_token_families'), await ctx.count('refresh_tokens')]
  const before = await counts()
  // Only the flag, as a disable that lands after the code, family and password were checked.
  await ctx.store.db.updateTable('users').set({ disabled_at: ctx.clock.now() }).where('id', '=', ctx.user.id).execute()

  t.equal(await ctx.tokens.exchangeCode({ request: ctx.request, client, code }), 'userInactive')
  t.equal((await ctx.repos.codes.findByHash(code.codeHash))?.usedAt, null, 'the code is not even marked used')
  t.equal(await ctx.tokens.refresh({ request: ctx.request, client, family, presentedHash, scopes: ['read'] }), 'userInactive')
  t.equal((await ctx.repos.refreshTokens.findByHash(presentedHash))?.rotatedAt, null, 'the token is not even marked rotated')
  const authTime = ctx.clock.now()
  t.equal(await ctx.tokens.forUser({ request: ctx.request, client, userId: ctx.user.id, scopes: ['read'], audience: AUDIENCE, authTime, amr: ['pwd'] }), 'userInactive')
  const plain = await ctx.clientOf(['password'])
  t.equal(await ctx.tokens.forUser({ request: ctx.request, client: plain, userId: ctx.user.id, scopes: ['read'], audience: AUDIENCE, authTime, amr: ['pwd'] }), 'userInactive', 'without a family too')
  t.same(await counts(), before, 'nothing written')
  t.equal(ctx.recorded.filter((e) => e.event === 'tokens_issued').length, 1, 'only the issue before the disable')
})

t.test('a code deleted before its redemption (a user disabled, a client removed) is lost as a concurrent redemption is', async (t) => {
  const ctx = await setup(t)
  const client = await ctx.clientOf(['authorization_code'])
  const code = await storedCode(ctx, client, ['read'])
  await ctx.store.db.deleteFrom('authorization_codes').where('id', '=', code.id).execute()
  t.equal(await ctx.tokens.exchangeCode({ request: ctx.request, client, code }), undefined)
  t.equal(await ctx.count('access_tokens'), 0)
})
