import t from 'tap'
import { authenticateClient, clientCredentials, type AuthenticatableClient } from '../../src/oauth/client-auth.js'
import { Params } from '../../src/oauth/params.js'
import { sha256Hex } from '../../src/oauth/secrets.js'

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
const credentialsOf = (authorization: string | undefined, body: Record<string, string> = {}) =>
  clientCredentials({ authorization, params: new Params(body) })

const confidential: AuthenticatableClient = { id: 'lk_conf', isPublic: false, secretHash: sha256Hex('s3cret') }
const publicClient: AuthenticatableClient = { id: 'lk_pub', isPublic: true, secretHash: null }

t.test('clientCredentials reads client_secret_basic, client_secret_post or a bare client_id (RFC 6749 §2.3.1)', async (t) => {
  t.same(credentialsOf(basic('lk_conf', 's3cret')), { clientId: 'lk_conf', secret: 's3cret' })
  t.same(credentialsOf(basic('lk a+b', 'p:w d')), { clientId: 'lk a+b', secret: 'p:w d' }, 'form-urlencoded before base64')
  t.same(credentialsOf(`basic ${Buffer.from('lk_conf:s3cret').toString('base64')}`), { clientId: 'lk_conf', secret: 's3cret' }, 'scheme in any case')
  t.same(credentialsOf(basic('lk_conf', 's3cret'), { client_id: 'lk_conf' }), { clientId: 'lk_conf', secret: 's3cret' }, 'Basic with the same body client_id')
  t.same(credentialsOf(undefined, { client_id: 'lk_conf', client_secret: 's3cret' }), { clientId: 'lk_conf', secret: 's3cret' })
  t.same(credentialsOf('', { client_id: 'lk_pub' }), { clientId: 'lk_pub', secret: undefined }, 'an empty header counts as absent')
})

t.test('clientCredentials refuses what it cannot read, as today', async (t) => {
  t.throws(() => credentialsOf(basic('lk_conf', 's3cret'), { client_secret: 's3cret' }), { code: 'invalid_request', status: 400, message: /one client authentication method/ }, 'both methods')
  t.throws(() => credentialsOf(basic('lk_conf', 's3cret'), { client_id: 'lk_other' }), { code: 'invalid_request', message: /does not match/ }, 'Basic and another body client_id')
  t.throws(() => credentialsOf(undefined), { code: 'invalid_client', status: 401, message: /required/ }, 'nothing at all')
  t.throws(() => credentialsOf('Bearer abc', { client_id: 'lk_conf' }), { code: 'invalid_client', message: /unsupported authorization scheme/ })
  t.throws(() => credentialsOf('Basic'), { code: 'invalid_client', message: /unsupported authorization scheme/ }, 'Basic without credentials')
  for (const header of ['Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`, `Basic ${Buffer.from('id:%zz').toString('base64')}`]) {
    t.throws(() => credentialsOf(header), { code: 'invalid_client', status: 401, message: /malformed Basic/ }, header)
  }
})

t.test('authenticateClient checks the secret against the client looked up by the caller', async (t) => {
  t.equal(authenticateClient({ clientId: 'lk_conf', secret: 's3cret' }, confidential, 0), confidential)
  t.equal(authenticateClient({ clientId: 'lk_pub', secret: undefined }, publicClient, 0), publicClient)
  const failed = { code: 'invalid_client', status: 401, message: 'client authentication failed' }
  t.throws(() => authenticateClient({ clientId: 'lk_conf', secret: 'wrong' }, confidential, 0), failed, 'a wrong secret')
  t.throws(() => authenticateClient({ clientId: 'lk_conf', secret: undefined }, confidential, 0), failed, 'a confidential client without its secret')
  t.throws(() => authenticateClient({ clientId: 'lk_pub', secret: 'anything' }, publicClient, 0), failed, 'a public client sending a secret')
  t.throws(() => authenticateClient({ clientId: 'lk_conf', secret: 's3cret' }, { ...confidential, secretHash: null }, 0), failed, 'a confidential client with no stored hash')
  // Unknown clients fail the same way, after the same (dummy) comparison.
  t.throws(() => authenticateClient({ clientId: 'lk_none', secret: 's3cret' }, undefined, 0), failed, 'an unknown client with a secret')
  t.throws(() => authenticateClient({ clientId: 'lk_none', secret: undefined }, undefined, 0), failed, 'an unknown client without one')
})

t.test("authenticateClient returns the caller's own client type", async (t) => {
  const stored = { ...confidential, name: 'Example', grantTypes: ['client_credentials'] }
  const client = authenticateClient({ clientId: 'lk_conf', secret: 's3cret' }, stored, 0)
  t.equal(client.name, 'Example')
})
