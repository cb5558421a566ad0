import t, { type Test } from 'tap'
import { refusedUrl, startFixtureIssuer, type FixtureIssuer } from './fixture-issuer.js'
import { assertAccepted, assertRefused, getWithToken, protectedApp } from './harness.js'

async function setup(t: Test, options: { endpoint?: string; secret?: string; jwksUri?: boolean } = {}) {
  const issuer = await startFixtureIssuer()
  t.teardown(() => issuer.close())
  const { app, rs } = await protectedApp(t, {
    issuer: issuer.issuer,
    audience: issuer.audience,
    jwksUri: options.jwksUri ? `${issuer.issuer}/.well-known/jwks.json` : undefined,
    introspect: {
      clientId: issuer.client.id,
      clientSecret: options.secret ?? issuer.client.secret,
      endpoint: options.endpoint,
    },
  })
  return { issuer, app, rs }
}

const revoked = (issuer: FixtureIssuer) => ({
  status: 401 as const,
  realm: issuer.audience,
  error: 'invalid_token',
  description: 'token is not active (revoked)',
})
const unavailable = (issuer: FixtureIssuer) => ({
  status: 503 as const,
  realm: issuer.audience,
  description: 'token introspection is unavailable',
})

t.test('accepts a token the issuer reports active', async (t) => {
  const { issuer, app } = await setup(t)
  assertAccepted(t, await getWithToken(app, await issuer.sign({ sub: 'alice' })), { sub: 'alice' })
  t.equal(issuer.counts.introspect, 1, 'asked once, with client credentials form-encoded (RFC 6749 §2.3.1)')
})

t.test('refuses a revoked token with 401 invalid_token', async (t) => {
  const { issuer, app, rs } = await setup(t)
  const token = await issuer.sign({ jti: 'revoked-1' })
  assertAccepted(t, await getWithToken(app, token))
  issuer.revoked.add('revoked-1')
  assertRefused(t, await getWithToken(app, token), revoked(issuer))
  await t.rejects(rs.verify(token), { status: 401, code: 'invalid_token' })
})

t.test('never sends a token that fails local verification', async (t) => {
  const { issuer, app } = await setup(t)
  const response = await getWithToken(app, await issuer.sign({ aud: 'https://elsewhere.example' }))
  t.equal(response.statusCode, 401)
  t.equal(issuer.counts.introspect, 0)
})

t.test('introspection endpoint down: 503 temporarily_unavailable', async (t) => {
  const { issuer, app } = await setup(t)
  issuer.introspectionMode = 'error'
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
})

t.test('introspection endpoint unreachable: 503', async (t) => {
  const { issuer, app } = await setup(t, { endpoint: `${await refusedUrl()}/introspect` })
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
  t.equal(issuer.counts.introspect, 0, 'the configured endpoint is used')
})

t.test('credentials the issuer refuses: 503, not the token’s fault', async (t) => {
  const { issuer, app } = await setup(t, { secret: 'wrong' })
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
  t.equal(issuer.counts.introspect, 1)
})

t.test('falls back to ${issuer}/introspect when the metadata names no endpoint', async (t) => {
  const issuer = await startFixtureIssuer()
  t.teardown(() => issuer.close())
  issuer.metadataPatch = { introspection_endpoint: undefined }
  const { app } = await protectedApp(t, {
    issuer: issuer.issuer,
    audience: issuer.audience,
    introspect: { clientId: issuer.client.id, clientSecret: issuer.client.secret },
  })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.equal(issuer.counts.introspect, 1)
})

t.test('with jwksUri (no metadata read) uses ${issuer}/introspect', async (t) => {
  const { issuer, app } = await setup(t, { jwksUri: true })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.strictSame(issuer.counts, { metadata: 0, jwks: 1, introspect: 1 })
})
