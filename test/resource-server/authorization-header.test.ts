import t from 'tap'
import fastify from 'fastify'
import { bearerToken, BearerError, createResourceServer } from '../../src/resource-server/index.js'
import { createAuthenticate } from '../../src/resource-server/authenticate.js'
import { createRequireScope } from '../../src/resource-server/plugin.js'
import { startFixtureIssuer } from './fixture-issuer.js'
import { assertAccepted, assertRefused, protectedApp } from './harness.js'

const issuer = await startFixtureIssuer()
t.teardown(() => issuer.close())
const realm = issuer.audience
const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: realm })
const me = (authorization?: string, url = '/me') =>
  app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } })
const malformed = (description: string) => ({ status: 400 as const, realm, error: 'invalid_request', description })

t.test('answers 401 without an error code when there is no Authorization header', async (t) => {
  assertRefused(t, await me(), { status: 401, realm, description: 'bearer token required' })
})

t.test('treats another scheme (Basic) as no credentials', async (t) => {
  const response = await me(`Basic ${Buffer.from('user:pass').toString('base64')}`)
  assertRefused(t, response, { status: 401, realm, description: 'bearer token required' })
})

t.test('answers 400 invalid_request for Bearer without a token', async (t) => {
  assertRefused(t, await me('Bearer'), malformed('bearer token is missing'))
  assertRefused(t, await me('Bearer    '), malformed('bearer token is missing'))
})

t.test('answers 400 invalid_request for two tokens', async (t) => {
  const token = await issuer.sign()
  assertRefused(t, await me(`Bearer ${token} ${token}`), malformed('only one bearer token is allowed'))
})

t.test('answers 400 invalid_request for characters outside b64token', async (t) => {
  assertRefused(t, await me('Bearer abc$def'), malformed('bearer token has invalid characters'))
  assertRefused(t, await me('Bearer abc=def'), malformed('bearer token has invalid characters'))
  assertRefused(t, await me('Bearer "abc"'), malformed('bearer token has invalid characters'))
})

t.test('accepts the scheme name in any case and several spaces before the token', async (t) => {
  const token = await issuer.sign()
  assertAccepted(t, await me(`bearer ${token}`), { sub: 'user-1' })
  assertAccepted(t, await me(`BEARER   ${token}`), { sub: 'user-1' })
})

t.test('ignores an access_token in the query (RFC 6750 §2.3 not supported)', async (t) => {
  const token = await issuer.sign()
  assertRefused(t, await me(undefined, `/me?access_token=${token}`), { status: 401, realm, description: 'bearer token required' })
})

t.test('leaves request.auth null on unprotected routes', async (t) => {
  const response = await me(`Bearer ${await issuer.sign()}`, '/open')
  t.strictSame(response.json(), { auth: null })
})

t.test('bearerToken reads the token or throws a BearerError', async (t) => {
  t.equal(bearerToken('Bearer abc.def-_~+/=='), 'abc.def-_~+/==')
  const error = t.throws(() => bearerToken('Token abc')) as BearerError
  t.ok(error instanceof BearerError)
  t.equal(error.status, 401)
  t.equal(error.code, undefined)
})

t.test('keeps quotes and control characters out of the challenge', async (t) => {
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: 'urn:"odd"\\realm', resourceMetadata: false })
  const response = await app.inject({ url: '/me' })
  t.equal(response.headers['www-authenticate'], 'Bearer realm="urn:oddrealm"')
})

t.test('leaves an unexpected error (a bug) to fastify: 500, not a 401', async (t) => {
  const authenticate = createAuthenticate({
    verify: async () => {
      throw new Error('bug')
    },
    realm,
    resourceMetadataUrl: undefined,
  })
  const requireScope = createRequireScope(authenticate)
  const app = fastify()
  t.teardown(() => app.close())
  app.get('/', { preHandler: requireScope() }, async () => 'unreachable')
  const response = await app.inject({ url: '/', headers: { authorization: 'Bearer abc' } })
  t.equal(response.statusCode, 500)
  t.equal(response.headers['www-authenticate'], undefined)
})

t.test('requireScope refuses names that are not RFC 6749 scope tokens', async (t) => {
  const rs = createResourceServer({ issuer: issuer.issuer, audience: realm })
  t.throws(() => rs.requireScope('source:w source:r'), TypeError)
  t.throws(() => rs.requireScope(''), TypeError)
  t.doesNotThrow(() => rs.requireScope('source:w', 'source:r'))
})
