import t from 'tap'
import { loadConfig } from '../../src/config.js'
import type { GrantDefinition } from '../../src/grants/grant.js'
import { BUILT_IN_GRANTS, grantRegistry } from '../../src/grants/index.js'
import type { Repositories } from '../../src/storage/repositories.js'
import type { AccessTokenSigner } from '../../src/tokens/access-token.js'
import type { IdTokenSigner } from '../../src/tokens/id-token.js'
import { runCliInProcess } from '../helpers/cli.js'
import type { SignInChecker } from '../../src/accounts/credentials.js'
import { FakeClock } from '../helpers/clock.js'

// Building grants touches no repository or signer; stand-ins are enough here.
const deps = {
  config: loadConfig({}),
  repos: {} as Repositories,
  accessTokens: {} as AccessTokenSigner,
  idTokens: {} as IdTokenSigner,
  signIns: {} as SignInChecker,
  requirements: { isMetBy: async () => true },
  clock: new FakeClock(),
}

t.test('the built-in grants: their grant_type, confidential-only ones, and the parameters they read', async (t) => {
  t.same(
    BUILT_IN_GRANTS.map(({ type, confidentialOnly, parameters }) => ({ type, confidentialOnly, parameters })),
    [
      { type: 'authorization_code', confidentialOnly: false, parameters: ['code', 'redirect_uri', 'code_verifier', 'resource'] },
      { type: 'refresh_token', confidentialOnly: false, parameters: ['refresh_token', 'scope', 'resource'] },
      { type: 'client_credentials', confidentialOnly: true, parameters: ['scope', 'resource'] },
      { type: 'password', confidentialOnly: true, parameters: ['username', 'password', 'scope', 'resource'] },
      { type: 'urn:ietf:params:oauth:grant-type:device_code', confidentialOnly: false, parameters: ['device_code'] },
    ],
  )
})

t.test('the registry serves each definition by its grant_type, with its descriptor', async (t) => {
  const registry = grantRegistry(deps)
  t.same([...registry.keys()], ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code'])
  t.equal(registry.get('password')?.confidentialOnly, true)
  t.equal(registry.get('authorization_code')?.confidentialOnly, false)
})

t.test('a grant_type defined twice is a programming error', async (t) => {
  const twice: GrantDefinition = { ...BUILT_IN_GRANTS[2] as GrantDefinition }
  t.throws(() => grantRegistry(deps, [...BUILT_IN_GRANTS, twice]), { message: 'grant_type "client_credentials" is defined twice' })
})

t.test('client add --help lists the grant types from the registry', async (t) => {
  const run = await runCliInProcess(['client', 'add', '--help'])
  t.equal(run.code, 0)
  t.match(run.stdout.replace(/\s+/g, ' '), 'a grant_type: authorization_code, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:device_code (repeatable)')
})
