import fastify from 'fastify'
import t from 'tap'
import { createResourceServer, resourceMetadataUrl } from '../../src/resource-server/index.js'
import { startFixtureIssuer } from './fixture-issuer.js'
import { assertRefused, protectedApp } from './harness.js'

const issuer = await startFixtureIssuer({ audience: 'https://api.example.test/v1/orders' })
t.teardown(() => issuer.close())
const audience = issuer.audience
const wellKnown = 'https://api.example.test/.well-known/oauth-protected-resource/v1/orders'

t.test('resourceMetadataUrl puts the well-known segment between the host and the path (RFC 9728 §3.1)', async (t) => {
  const cases: [string, string][] = [
    ['https://api.example.com/v1/orders', 'https://api.example.com/.well-known/oauth-protected-resource/v1/orders'],
    ['https://api.example.com', 'https://api.example.com/.well-known/oauth-protected-resource'],
    // The terminating slash after the host is no path: it is removed.
    ['https://api.example.com/', 'https://api.example.com/.well-known/oauth-protected-resource'],
    // A slash ending a path is part of it, kept so the identifier can be rebuilt.
    ['https://api.example.com/v1/', 'https://api.example.com/.well-known/oauth-protected-resource/v1/'],
    ['https://api.example.com:8443/mcp', 'https://api.example.com:8443/.well-known/oauth-protected-resource/mcp'],
    ['http://localhost:4000', 'http://localhost:4000/.well-known/oauth-protected-resource'],
    ['http://127.0.0.1:4000/api', 'http://127.0.0.1:4000/.well-known/oauth-protected-resource/api'],
    ['http://[::1]:4000', 'http://[::1]:4000/.well-known/oauth-protected-resource'],
  ]
  for (const [resource, url] of cases) t.equal(resourceMetadataUrl(resource).href, url, resource)
})

t.test('resourceMetadataUrl refuses what cannot be a resource identifier', async (t) => {
  const cases: [string, RegExp][] = [
    ['api', /not a URL/],
    ['urn:example:api', /not an https URL/],
    ['http://api.example.com', /not an https URL \(http only on localhost/],
    ['ftp://api.example.com', /not an https URL/],
    ['https://api.example.com/v1?tenant=a', /has a query/],
    ['https://api.example.com/v1?', /has a query/],
    ['https://api.example.com/v1#top', /has a fragment/],
    ['https://api.example.com/v1#', /has a fragment/],
    ['https://user:pass@api.example.com', /has credentials/],
    // Served under its own path only: nothing the URL parser would rewrite, no wildcard.
    ['https://api.example.com/a/../b', /not in its normal form \(https:\/\/api\.example\.com\/b\)/],
    ['https://api.example.com/v\n1', /not in its normal form/],
    ['https://API.example.com/v1', /not in its normal form/],
    ['https://api.example.com/v 1', /not in its normal form/],
    ['https://api.example.com/v1*', /has a \* in its path/],
  ]
  for (const [resource, message] of cases) t.throws(() => resourceMetadataUrl(resource), { name: 'TypeError', message }, resource)
})

t.test('serves the metadata document at the well-known path of the audience (RFC 9728 §3.2, §3.3)', async (t) => {
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience })
  const response = await app.inject({ url: '/.well-known/oauth-protected-resource/v1/orders' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.equal(response.headers['access-control-allow-origin'], '*', 'public: browser-based clients read it too')
  t.strictSame(response.json(), {
    resource: audience,
    authorization_servers: [issuer.issuer],
    // The harness's routes: /me needs no scope, /sources needs source:w.
    scopes_supported: ['source:w'],
    bearer_methods_supported: ['header'],
  })
  t.equal((await app.inject({ method: 'HEAD', url: '/.well-known/oauth-protected-resource/v1/orders' })).statusCode, 200, 'HEAD too')
  t.equal((await app.inject({ url: '/.well-known/oauth-protected-resource' })).statusCode, 404, 'not at the origin\'s path')
  t.equal((await app.inject({ method: 'POST', url: '/.well-known/oauth-protected-resource/v1/orders' })).statusCode, 404, 'GET only')
})

t.test('keeps the audience exactly as given in `resource`, a trailing slash included', async (t) => {
  const cases: [string, string][] = [
    ['https://api.example.test/', '/.well-known/oauth-protected-resource'],
    ['https://api.example.test/v1/', '/.well-known/oauth-protected-resource/v1/'],
  ]
  for (const [resource, path] of cases) {
    const rs = createResourceServer({ issuer: issuer.issuer, audience: resource })
    const app = fastify()
    t.teardown(() => app.close())
    await app.register(rs.plugin)
    const response = await app.inject({ url: path })
    t.equal(response.statusCode, 200, path)
    t.equal(response.json().resource, resource, 'identical to the identifier the URL was built from')
  }
})

t.test('names the metadata URL in every challenge: 401, 400 and 403 (RFC 9728 §5.1)', async (t) => {
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience })
  const expected = { realm: audience, resourceMetadata: wellKnown }
  assertRefused(t, await app.inject({ url: '/me' }), { ...expected, status: 401, description: 'bearer token required' })
  const none = await app.inject({ url: '/me' })
  t.equal(none.headers['www-authenticate'], `Bearer realm="${audience}", resource_metadata="${wellKnown}"`, 'the exact 401 challenge')
  assertRefused(t, await app.inject({ url: '/me', headers: { authorization: 'Bearer' } }), {
    ...expected, status: 400, error: 'invalid_request', description: 'bearer token is missing',
  })
  const expired = await issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 })
  assertRefused(t, await app.inject({ url: '/me', headers: { authorization: `Bearer ${expired}` } }), {
    ...expected, status: 401, error: 'invalid_token', description: 'token has expired',
  })
  const reader = await issuer.sign({ scope: 'source:r' })
  assertRefused(t, await app.inject({ url: '/sources', headers: { authorization: `Bearer ${reader}` } }), {
    ...expected, status: 403, error: 'insufficient_scope', description: 'token lacks scope: source:w', scope: 'source:w',
  })
})

t.test('scopes_supported: the option when given, omitted when no route names a scope, resource_name when given', async (t) => {
  const configured = createResourceServer({
    issuer: issuer.issuer,
    audience,
    resourceMetadata: { scopesSupported: ['source:r', 'source:w'], resourceName: 'Orders API' },
  })
  configured.requireScope('admin')
  t.strictSame(configured.metadata()?.body, {
    resource: audience,
    authorization_servers: [issuer.issuer],
    scopes_supported: ['source:r', 'source:w'],
    bearer_methods_supported: ['header'],
    resource_name: 'Orders API',
  })

  const bare = createResourceServer({ issuer: issuer.issuer, audience })
  bare.requireScope()
  t.notOk('scopes_supported' in bare.metadata()!.body, 'RFC 9728 §3.2: a parameter with zero values is omitted')
  await bare.authenticate(undefined, ['admin'])
  t.notOk('scopes_supported' in bare.metadata()!.body, 'not from authenticate(): the document does not change with the requests')
  bare.requireScope('source:w', 'source:r')
  bare.requireScope('source:r')
  t.strictSame(bare.metadata()!.body.scopes_supported, ['source:w', 'source:r'], 'the scopes requireScope was given, once each')
})

t.test('metadata() gives the document, its URL, path and headers for any framework', async (t) => {
  const rs = createResourceServer({ issuer: issuer.issuer, audience })
  t.strictSame(rs.metadata(), {
    url: wellKnown,
    path: '/.well-known/oauth-protected-resource/v1/orders',
    headers: { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' },
    body: { resource: audience, authorization_servers: [issuer.issuer], bearer_methods_supported: ['header'] },
  })
})

t.test('refuses an audience that is no resource identifier, unless told otherwise', async (t) => {
  t.throws(() => createResourceServer({ issuer: issuer.issuer, audience: 'urn:example:api' }), {
    name: 'TypeError',
    message: 'audience must be a resource identifier to serve RFC 9728 metadata: urn:example:api is not an https URL (http only on localhost, 127.0.0.1 or [::1]); set resourceMetadata.resource to this API\'s https URL, or resourceMetadata: false',
  })
  t.throws(() => createResourceServer({ issuer: issuer.issuer, audience, resourceMetadata: { resource: 'https://api.example.test/v1?x=1' } }), {
    message: /^resourceMetadata\.resource must be a resource identifier .*has a query/,
  })
  t.throws(() => createResourceServer({ issuer: issuer.issuer, audience, resourceMetadata: { scopesSupported: ['a', ''] } }), {
    message: 'resourceMetadata.scopesSupported must be an array of scope names',
  })
  t.throws(() => createResourceServer({ issuer: issuer.issuer, audience, resourceMetadata: { scopesSupported: 'a' as unknown as string[] } }), TypeError)
  t.throws(() => createResourceServer({ issuer: issuer.issuer, audience, resourceMetadata: { resourceName: 42 as unknown as string } }), {
    message: 'resourceMetadata.resourceName must be a string',
  })
})

t.test('resourceMetadata: false serves nothing and names nothing', async (t) => {
  const { app, rs } = await protectedApp(t, { issuer: issuer.issuer, audience: 'urn:example:api', resourceMetadata: false })
  t.equal(rs.metadata(), undefined)
  assertRefused(t, await app.inject({ url: '/me' }), { status: 401, realm: 'urn:example:api', description: 'bearer token required', resourceMetadata: null })
  t.equal((await app.inject({ url: '/.well-known/oauth-protected-resource' })).statusCode, 404)
})

t.test('resourceMetadata.resource serves an API whose audience is not a URL', async (t) => {
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: 'urn:example:api', resourceMetadata: { resource: 'https://api.example.test/x:y' } })
  const response = await app.inject({ url: '/.well-known/oauth-protected-resource/x:y' })
  t.equal(response.statusCode, 200, 'a colon in the path is no route parameter')
  t.equal(response.json().resource, 'https://api.example.test/x:y')
  t.equal((await app.inject({ url: '/.well-known/oauth-protected-resource/other' })).statusCode, 404)
  assertRefused(t, await app.inject({ url: '/me' }), {
    status: 401, realm: 'urn:example:api', description: 'bearer token required', resourceMetadata: 'https://api.example.test/.well-known/oauth-protected-resource/x:y',
  })
})

t.test('the plugin refuses a prefix: the well-known path is absolute', async (t) => {
  const rs = createResourceServer({ issuer: issuer.issuer, audience })
  const app = fastify()
  const registering = async () => {
    await app.register(async (api) => {
      await api.register(rs.plugin)
    }, { prefix: '/api' })
  }
  await t.rejects(registering, { message: `register the resource server's plugin without a prefix (not under /api): it serves ${wellKnown}` })
})

t.test('authenticate() answers claims, or the status, headers and body to send', async (t) => {
  const rs = createResourceServer({ issuer: issuer.issuer, audience })
  const token = await issuer.sign({ sub: 'alice', scope: 'source:r source:w' })
  const accepted = await rs.authenticate(`Bearer ${token}`, ['source:w'])
  t.equal(accepted.ok, true)
  t.match(accepted.ok && accepted.claims, { sub: 'alice', scope: 'source:r source:w' })
  t.equal((await rs.authenticate(`Bearer ${token}`)).ok, true, 'no scopes: any valid token')

  const missing = await rs.authenticate(undefined)
  t.strictSame(missing.ok ? undefined : { status: missing.status, headers: missing.headers, body: missing.body }, {
    status: 401,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'www-authenticate': `Bearer realm="${audience}", resource_metadata="${wellKnown}"`,
    },
    body: { error_description: 'bearer token required' },
  })

  const denied = await rs.authenticate(`Bearer ${token}`, ['admin'])
  t.strictSame(denied.ok ? undefined : { status: denied.status, challenge: denied.headers['www-authenticate'], body: denied.body, code: denied.error.code }, {
    status: 403,
    challenge: `Bearer realm="${audience}", error="insufficient_scope", error_description="token lacks scope: admin", scope="admin", resource_metadata="${wellKnown}"`,
    body: { error: 'insufficient_scope', error_description: 'token lacks scope: admin' },
    code: 'insufficient_scope',
  })

  const malformed = await rs.authenticate('Bearer a b')
  t.equal(malformed.ok ? 200 : malformed.status, 400)
  // node:http hands a header sent twice over as an array: no credentials, never a crash.
  for (const odd of [['Bearer a', 'Bearer b'], 42, null]) {
    const answer = await rs.authenticate(odd as unknown as string)
    t.equal(answer.ok ? 200 : answer.status, 401, JSON.stringify(odd))
  }
  await t.rejects(rs.authenticate(`Bearer ${token}`, ['a b']), { name: 'TypeError', message: 'not a scope name: "a b"' })
})
