import t from 'tap'
import { addClient } from '../../src/admin/clients.js'
import type { ClientRepository } from '../../src/storage/clients.js'
import type { ScopeRepository } from '../../src/storage/scopes.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { isResourceUri } from '../../src/oauth/resource-uri.js'
import { FakeClock } from '../helpers/clock.js'
import { NO_AUDIT } from '../../src/audit.js'

const GOOD = ['https://api.example.com/v1', 'urn:example:api', 'http://localhost:4000', 'https://api.example.com/a%20b?x=1']
const BAD: Array<[string, string]> = [
  ['/relative', 'relative'],
  ['api', 'no scheme'],
  ['//api.example.com', 'scheme-relative'],
  ['https://api.example.com/#frag', 'a fragment'],
  ['https://api.example.com/#', 'an empty fragment'],
  ['https://api.example.com/a b', 'a space'],
  [' https://api.example.com/', 'a leading space'],
  ['https://api.example.com/\t', 'a tab'],
  ['https://api.example.com/\n', 'a newline'],
  ['https://api.example.com/\u0000', 'a NUL'],
  ['https://api.example.com/\u007f', 'DEL'],
  ['', 'empty'],
]

t.test('a resource is an absolute URI without a fragment, spaces or control characters (RFC 8707 §2)', async (t) => {
  for (const uri of GOOD) t.equal(isResourceUri(uri), true, uri)
  for (const [uri, name] of BAD) t.equal(isResourceUri(uri), false, name)
})

t.test('DEFAULT_AUDIENCE follows the same rule, in one line naming the variable', async (t) => {
  for (const uri of GOOD) t.equal(loadConfig({ DEFAULT_AUDIENCE: uri }).defaultAudience, uri, uri)
  // An empty variable means the default, as for every variable.
  for (const [uri, name] of BAD.filter(([uri]) => uri !== '')) {
    const error = t.throws(() => loadConfig({ DEFAULT_AUDIENCE: uri }), name) as Error
    t.type(error, ConfigError, name)
    t.match(error.message, /^DEFAULT_AUDIENCE must be an absolute URI without a fragment, spaces or control characters/, name)
    t.notMatch(error.message, /\n/, `${name}: one line`)
  }
})

t.test('client add --audience follows the same rule', async (t) => {
  // The audience is checked before any repository is used.
  const deps = { clients: {} as ClientRepository, scopes: {} as ScopeRepository, clock: new FakeClock(), audit: NO_AUDIT }
  for (const [uri, name] of BAD) {
    await t.rejects(addClient(deps, { name: 'API', audience: uri }), { name: 'AdminError', message: /^--audience .* must be an absolute URI without a fragment/ }, name)
  }
  const created: unknown[] = []
  const clients = { create: async (client: unknown) => void created.push(client) } as unknown as ClientRepository
  const scopes = { findByNames: async (names: string[]) => names.map((name) => ({ name, description: '' })) } as unknown as ScopeRepository
  await addClient({ clients, scopes, clock: new FakeClock(), audit: NO_AUDIT }, { name: 'API', audience: 'urn:example:api' })
  t.match(created, [{ audience: 'urn:example:api' }])
})
