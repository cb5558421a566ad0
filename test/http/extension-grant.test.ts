import t, { type Test } from 'tap'
import { addClient } from '../../src/admin/clients.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { GrantDefinition } from '../../src/grants/grant.js'
import { BUILT_IN_GRANTS } from '../../src/grants/index.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { resolveScope, USER_SCOPES } from '../../src/oauth/scope.js'
import { repositories } from '../../src/storage/repositories.js'
import type { TestApp } from '../helpers/app.js'
import { FakeClock } from '../helpers/clock.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { basic, exchange, verifyAccessToken } from '../helpers/oauth.js'
import { NO_AUDIT } from '../../src/audit.js'

// A grant that exists only in this file: adding one touches no other file.
const TEST_GRANT_TYPE = 'urn:example:params:oauth:grant-type:test'

const testGrant: GrantDefinition = {
  type: TEST_GRANT_TYPE,
  confidentialOnly: true,
  parameters: ['scope'],
  create: (deps) => ({
    async handle(req, client) {
      const scopes = resolveScope(req.params.get('scope'), client.scopes, USER_SCOPES)
      return deps.tokens.forClient({ client, scopes, audience: deps.config.defaultAudience, request: req })
    },
  }),
}

const GRANTS = [...BUILT_IN_GRANTS, testGrant]

async function setup(t: Test, grants: readonly GrantDefinition[] = GRANTS): Promise<TestApp> {
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await dialectOf(t).open(t)
  const keys = await fixtureKeyStore()
  const clock = new FakeClock()
  const app = await buildApp(config, { store, keys, clock, grants })
  t.teardown(() => app.close())
  return { app, config, store, keys, clock, repos: repositories(store) }
}

function registrar(ctx: TestApp, grants: readonly GrantDefinition[] = GRANTS) {
  return { clients: ctx.repos.clients, scopes: ctx.repos.scopes, clock: ctx.clock, grants, audit: NO_AUDIT }
}

function assertTokenError(t: Test, res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string; error_description: string } }, error: string, description: RegExp) {
  t.equal(res.statusCode, 400)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.json().error, error)
  t.match(res.json().error_description, description)
}

eachDialect(t, (t) => {
  t.test('discovery advertises an added grant after the built-in ones', async (t) => {
    const ctx = await setup(t)
    const doc = (await ctx.app.inject('/.well-known/openid-configuration')).json()
    t.same(doc.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code', TEST_GRANT_TYPE])
  })

  t.test('registration accepts an added grant by its grant_type, refuses it to a public client, and only knows the list it is given', async (t) => {
    const ctx = await setup(t)
    const added = await addClient(registrar(ctx), { name: 'Svc', grants: [TEST_GRANT_TYPE], scope: 'openid' })
    t.type(added.client_secret, 'string')
    t.same((await ctx.repos.clients.findById(added.client_id))?.grantTypes, [TEST_GRANT_TYPE])
    await t.rejects(
      addClient(registrar(ctx), { name: 'App', isPublic: true, grants: [TEST_GRANT_TYPE] }),
      { message: `--public cannot be used with the ${TEST_GRANT_TYPE} grant` },
    )
    await t.rejects(
      addClient(registrar(ctx, BUILT_IN_GRANTS), { name: 'Svc', grants: [TEST_GRANT_TYPE] }),
      { message: /^unknown grant "urn:example:params:oauth:grant-type:test" \(expected one of: authorization_code, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:device_code\)$/ },
    )
  })

  t.test('/token serves an added grant to a client registered for it', async (t) => {
    const ctx = await setup(t)
    const added = await addClient(registrar(ctx), { name: 'Svc', grants: [TEST_GRANT_TYPE], scope: 'openid' })
    const res = await exchange(ctx.app, { grant_type: TEST_GRANT_TYPE }, { authorization: basic(added.client_id, added.client_secret as string) })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
    t.equal(body.token_type, 'Bearer')
    t.equal(body.scope, '', 'no user scope in a client token')
    const { payload } = await verifyAccessToken(ctx, body.access_token)
    t.equal(payload.sub, added.client_id)
    t.equal(payload.client_id, added.client_id)
    t.equal(payload.aud, ctx.config.defaultAudience)
    const withScope = await exchange(ctx.app, { grant_type: TEST_GRANT_TYPE, scope: 'openid' }, { authorization: basic(added.client_id, added.client_secret as string) })
    assertTokenError(t, withScope, 'invalid_scope', /not available with this grant: openid/)
  })

  t.test('/token refuses an added confidential-only grant to a public client whose record names it', async (t) => {
    const ctx = await setup(t)
    await ctx.repos.clients.create({
      id: 'lk_public_test',
      name: 'Odd',
      secretHash: null,
      isPublic: true,
      redirectUris: [],
      postLogoutRedirectUris: [],
      grantTypes: [TEST_GRANT_TYPE],
      scopes: [],
      audience: null,
      resources: [],
      createdAt: ctx.clock.now(),
    })
    const res = await exchange(ctx.app, { grant_type: TEST_GRANT_TYPE, client_id: 'lk_public_test' })
    assertTokenError(t, res, 'unauthorized_client', new RegExp(`^the ${TEST_GRANT_TYPE} grant is for confidential clients only$`))
  })

  t.test('an added grant is unauthorized_client for a client not registered for it, and unsupported where it is not served', async (t) => {
    const ctx = await setup(t)
    const other = await addClient(registrar(ctx), { name: 'Svc', grants: ['client_credentials'] })
    const auth = { authorization: basic(other.client_id, other.client_secret as string) }
    assertTokenError(t, await exchange(ctx.app, { grant_type: TEST_GRANT_TYPE }, auth), 'unauthorized_client', /not registered for the urn:example:params:oauth:grant-type:test grant/)

    const plain = await setup(t, BUILT_IN_GRANTS)
    const svc = await addClient(registrar(plain, BUILT_IN_GRANTS), { name: 'Svc', grants: ['client_credentials'] })
    const res = await exchange(plain.app, { grant_type: TEST_GRANT_TYPE }, { authorization: basic(svc.client_id, svc.client_secret as string) })
    assertTokenError(t, res, 'unsupported_grant_type', /is not supported/)
  })
})
