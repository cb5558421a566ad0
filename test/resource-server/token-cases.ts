import { createHmac, createPublicKey, type JsonWebKey } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import type { Test } from 'tap'
import { createSigningKey, signToken, type TokenSource } from './fixture-issuer.js'
import { assertAccepted, assertRefused, getWithToken, protectedApp } from './harness.js'

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

async function publishedJwk(issuer: string, kid: string): Promise<JsonWebKey> {
  const metadata = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as { jwks_uri: string }
  const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: (JsonWebKey & { kid: string })[] }
  return jwks.keys.find((key) => key.kid === kid)!
}

/**
 * Every check a resource server makes on a token, against any issuer that can mint tokens:
 * the fixture issuer here, a real latchkey server elsewhere.
 */
export async function tokenChecks(t: Test, source: TokenSource): Promise<void> {
  const { issuer, audience } = source
  const { app } = await protectedApp(t, { issuer, audience })
  const invalid = (description: string) => ({ status: 401 as const, realm: audience, error: 'invalid_token', description })

  t.test('accepts a valid token and exposes its claims', async (t) => {
    const token = await source.sign({ sub: 'alice', client_id: 'app-1', scope: 'source:r' })
    assertAccepted(t, await getWithToken(app, token), { sub: 'alice', client_id: 'app-1', scope: 'source:r', iss: issuer, aud: audience })
  })

  t.test('refuses alg none', async (t) => {
    const valid = await source.sign()
    const { kid } = decodeProtectedHeader(valid)
    const token = `${b64url({ alg: 'none', typ: 'at+jwt', kid })}.${valid.split('.')[1]}.`
    assertRefused(t, await getWithToken(app, token), invalid('token alg must be RS256'))
  })

  t.test('refuses HS256 signed with the RSA public key as the HMAC secret', async (t) => {
    const valid = await source.sign()
    const { kid } = decodeProtectedHeader(valid)
    const pem = createPublicKey({ key: await publishedJwk(issuer, kid!), format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    // jose refuses to sign this, so it is put together by hand (RFC 8725 §2.1 key confusion).
    const signingInput = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid })}.${valid.split('.')[1]}`
    const token = `${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`
    assertRefused(t, await getWithToken(app, token), invalid('token alg must be RS256'))
  })

  t.test('refuses typ JWT', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({}, { typ: 'JWT' })), invalid('token typ must be at+jwt'))
  })

  t.test('refuses a token without typ', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({}, { typ: undefined })), invalid('token typ must be at+jwt'))
  })

  t.test('accepts typ application/at+jwt, in any case', async (t) => {
    assertAccepted(t, await getWithToken(app, await source.sign({}, { typ: 'application/at+jwt' })))
    assertAccepted(t, await getWithToken(app, await source.sign({}, { typ: 'AT+JWT' })))
  })

  t.test('refuses a token from another issuer', async (t) => {
    const token = await source.sign({ iss: 'https://evil.example' })
    assertRefused(t, await getWithToken(app, token), invalid('token is from another issuer'))
  })

  t.test('refuses a token for another audience', async (t) => {
    const token = await source.sign({ aud: 'https://other-api.example' })
    assertRefused(t, await getWithToken(app, token), invalid('token is for another audience'))
  })

  t.test('accepts an audience array that contains ours', async (t) => {
    const token = await source.sign({ aud: ['https://other-api.example', audience] })
    assertAccepted(t, await getWithToken(app, token), { aud: ['https://other-api.example', audience] })
  })

  t.test('refuses a token expired beyond the clock tolerance', async (t) => {
    const token = await source.sign({ iat: now() - 100, exp: now() - 10 })
    assertRefused(t, await getWithToken(app, token), invalid('token has expired'))
  })

  t.test('accepts a token expired within the clock tolerance (5 s)', async (t) => {
    assertAccepted(t, await getWithToken(app, await source.sign({ iat: now() - 100, exp: now() - 2 })))
  })

  t.test('refuses a token whose nbf is in the future', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({ nbf: now() + 60 })), invalid('token is not valid yet'))
  })

  t.test('refuses a token signed by another key with the same kid', async (t) => {
    const valid = await source.sign()
    const rogue = await createSigningKey(decodeProtectedHeader(valid).kid)
    const token = await signToken(rogue, decodeJwt(valid))
    assertRefused(t, await getWithToken(app, token), invalid('token signature is invalid'))
  })

  t.test('refuses a token without kid', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({}, { kid: undefined })), invalid('token has no kid'))
  })

  t.test('refuses a token without exp or another RFC 9068 §2.2 claim', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({ exp: undefined })), invalid('token exp claim is missing'))
    assertRefused(t, await getWithToken(app, await source.sign({ jti: undefined })), invalid('token jti claim is missing'))
    assertRefused(t, await getWithToken(app, await source.sign({ iat: 'yesterday' })), invalid('token iat claim is invalid'))
  })

  t.test('refuses claims of the wrong type', async (t) => {
    assertRefused(t, await getWithToken(app, await source.sign({ sub: 42 })), invalid('token sub claim must be a string'))
    assertRefused(t, await getWithToken(app, await source.sign({ scope: ['a'] })), invalid('token scope claim must be a string'))
  })

  t.test('refuses a malformed token', async (t) => {
    assertRefused(t, await getWithToken(app, 'abc.def.ghi'), invalid('token is malformed'))
    assertRefused(t, await getWithToken(app, 'opaque-token'), invalid('token is malformed'))
  })

  t.test('answers 403 insufficient_scope naming the scope needed', async (t) => {
    const token = await source.sign({ scope: 'source:r' })
    assertRefused(t, await getWithToken(app, token, '/sources'), {
      status: 403,
      realm: audience,
      error: 'insufficient_scope',
      description: 'token lacks scope: source:w',
      scope: 'source:w',
    })
  })

  t.test('passes when every scope needed is granted', async (t) => {
    assertAccepted(t, await getWithToken(app, await source.sign({ scope: 'source:r source:w' }), '/sources'))
  })

  t.test('refuses a token without scope where one is needed', async (t) => {
    const response = await getWithToken(app, await source.sign({ scope: undefined }), '/sources')
    t.equal(response.statusCode, 403)
    assertAccepted(t, await getWithToken(app, await source.sign({ scope: undefined })))
  })
}
