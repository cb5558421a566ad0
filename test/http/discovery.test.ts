import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'

eachDialect(t, (t) => {
  t.test('serves the same RFC 8414 metadata at both well-known paths', async (t) => {
    const { app } = await buildTestApp(t)
    const a = await app.inject('/.well-known/oauth-authorization-server')
    const b = await app.inject('/.well-known/openid-configuration')
    t.equal(a.statusCode, 200)
    t.match(a.headers['content-type'], /application\/json/)
    t.same(a.json(), b.json())
    const doc = a.json()
    t.equal(doc.issuer, 'http://localhost:3000')
    t.equal(doc.jwks_uri, 'http://localhost:3000/.well-known/jwks.json')
    t.ok(Array.isArray(doc.response_types_supported), 'response_types_supported is REQUIRED (RFC 8414 §2)')
  })

  t.test('advertises the authorization code flow with S256 PKCE and RFC 9207 iss', async (t) => {
    const { app } = await buildTestApp(t)
    const doc = (await app.inject('/.well-known/oauth-authorization-server')).json()
    t.equal(doc.authorization_endpoint, 'http://localhost:3000/authorize')
    t.equal(doc.token_endpoint, 'http://localhost:3000/token')
    t.same(doc.response_types_supported, ['code'])
    t.same(doc.response_modes_supported, ['query'])
    t.same(doc.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code'])
    t.same(doc.code_challenge_methods_supported, ['S256'], 'plain is not offered')
    t.same(doc.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none'])
    t.equal(doc.authorization_response_iss_parameter_supported, true)
  })

  t.test('advertises revocation (RFC 7009) and introspection (RFC 7662) with their client authentication', async (t) => {
    const { app } = await buildTestApp(t)
    const doc = (await app.inject('/.well-known/openid-configuration')).json()
    t.equal(doc.revocation_endpoint, 'http://localhost:3000/revoke')
    t.same(doc.revocation_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none'])
    t.equal(doc.introspection_endpoint, 'http://localhost:3000/introspect')
    t.same(doc.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post'], 'no unauthenticated introspection')
    for (const path of ['/revoke', '/introspect']) {
      const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=x' })
      t.not(res.statusCode, 404, `${path} is served`)
    }
  })

  t.test('advertises the sign-in classes acr_values may ask for, and the amr and acr claims', async (t) => {
    const { app } = await buildTestApp(t)
    const doc = (await app.inject('/.well-known/openid-configuration')).json()
    t.same(doc.acr_values_supported, ['urn:latchkey:acr:pwd', 'urn:latchkey:acr:mfa'])
    t.ok(doc.claims_supported.includes('amr'), 'amr')
    t.ok(doc.claims_supported.includes('acr'), 'acr')
  })

  t.test('uses the configured issuer in every URL', async (t) => {
    const { app } = await buildTestApp(t, { env: { ISSUER: 'https://auth.example.com' } })
    const doc = (await app.inject('/.well-known/oauth-authorization-server')).json()
    t.equal(doc.issuer, 'https://auth.example.com')
    for (const [key, value] of Object.entries(doc)) {
      if (key.endsWith('_endpoint') || key === 'jwks_uri') t.match(value, /^https:\/\/auth\.example\.com\//, key)
    }
  })

  t.test('answers unknown paths with a JSON 404', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject('/nope')
    t.equal(res.statusCode, 404)
    t.same(res.json(), { error: 'invalid_request', error_description: 'not found' })
  })
})
