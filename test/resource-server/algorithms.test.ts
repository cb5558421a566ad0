import { createHmac } from 'node:crypto'
import { createLocalJWKSet, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose'
import t, { type Test } from 'tap'
import { createResourceServer } from '../../src/resource-server/index.js'
import { fixtureKeyPair } from '../helpers/keys.js'
import { accessTokenClaims, signToken, startFixtureIssuer, type FixtureIssuer, type SigningKey } from './fixture-issuer.js'
import { assertAccepted, assertRefused, getWithToken, protectedApp } from './harness.js'

async function fixture(t: Test): Promise<FixtureIssuer> {
  const issuer = await startFixtureIssuer()
  t.teardown(() => issuer.close())
  return issuer
}

/** A published key of `alg` (from the fixture pairs, generated once); `withAlg` false leaves alg out of the JWK. */
async function publishedKey(issuer: FixtureIssuer, alg: 'ES256' | 'EdDSA' | 'RS256', kid: string, withAlg = true): Promise<SigningKey> {
  const pair = await fixtureKeyPair(alg)
  const publicJwk: JWK = { ...pair.publicJwk, kid, use: 'sig', ...(withAlg ? { alg } : {}) }
  issuer.extraJwks.push(publicJwk)
  return { kid, privateKey: pair.privateKey, publicJwk }
}

/** WebCrypto binds an RSA key to RSASSA-PKCS1-v1_5 or RSA-PSS: the same key is imported again for PS*. */
async function forAlg(key: SigningKey, alg: string): Promise<SigningKey> {
  if (!alg.startsWith('PS')) return key
  return { ...key, privateKey: (await importJWK(await exportJWK(key.privateKey as CryptoKey), alg)) as CryptoKey }
}

const sign = async (issuer: FixtureIssuer, key: SigningKey, alg: string) => signToken(await forAlg(key, alg), accessTokenClaims(issuer.issuer, issuer.audience), { alg })
const invalid = (issuer: FixtureIssuer, description: string) => ({ status: 401 as const, realm: issuer.audience, error: 'invalid_token', description })

t.test('algorithms: validated at construction; none and HMAC throw (RFC 8725 §3.1)', async (t) => {
  const base = { issuer: 'https://as.example', audience: 'https://api.example' }
  for (const algorithms of [['none'], ['HS256'], ['RS256', 'HS512'], ['HS384'], ['rs256'], ['RSA-OAEP'], [], ['ES256K'], [42]]) {
    t.throws(() => createResourceServer({ ...base, algorithms: algorithms as string[] }), TypeError, JSON.stringify(algorithms))
  }
  t.throws(() => createResourceServer({ ...base, algorithms: ['HS256'] }), /"HS256" is not accepted; use asymmetric JWS algorithms only .*never none or HMAC/)
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']) {
    t.doesNotThrow(() => createResourceServer({ ...base, algorithms: [alg] }), alg)
  }
})

t.test('default RS256 only: ES256 and EdDSA tokens from published keys are refused', async (t) => {
  const issuer = await fixture(t)
  const es = await publishedKey(issuer, 'ES256', 'es')
  const ed = await publishedKey(issuer, 'EdDSA', 'ed')
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  assertRefused(t, await getWithToken(app, await sign(issuer, es, 'ES256')), invalid(issuer, 'token alg must be RS256'))
  assertRefused(t, await getWithToken(app, await sign(issuer, ed, 'EdDSA')), invalid(issuer, 'token alg must be RS256'))
})

t.test('ES256 and EdDSA tokens are accepted when listed; none and HS256 still refused', async (t) => {
  const issuer = await fixture(t)
  const es = await publishedKey(issuer, 'ES256', 'es')
  const ed = await publishedKey(issuer, 'EdDSA', 'ed')
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, algorithms: ['RS256', 'ES256', 'EdDSA'] })
  assertAccepted(t, await getWithToken(app, await issuer.sign()), { iss: issuer.issuer })
  assertAccepted(t, await getWithToken(app, await sign(issuer, es, 'ES256')), { iss: issuer.issuer })
  assertAccepted(t, await getWithToken(app, await sign(issuer, ed, 'EdDSA')), { iss: issuer.issuer })
  const only = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'] })
  assertAccepted(t, await getWithToken(only.app, await sign(issuer, es, 'ES256')))
  assertRefused(t, await getWithToken(only.app, await sign(issuer, ed, 'EdDSA')), invalid(issuer, 'token alg must be ES256'))
  assertRefused(t, await getWithToken(only.app, await issuer.sign()), invalid(issuer, 'token alg must be ES256'))

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const body = b64(accessTokenClaims(issuer.issuer, issuer.audience))
  const none = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'es' })}.${body}.`
  const hsInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: 'es' })}.${body}`
  const hs = `${hsInput}.${createHmac('sha256', JSON.stringify(es.publicJwk)).update(hsInput).digest('base64url')}`
  const expected = invalid(issuer, 'token alg must be RS256 or ES256 or EdDSA')
  assertRefused(t, await getWithToken(app, none), expected)
  assertRefused(t, await getWithToken(app, hs), expected)
})

t.test('each JWK verifies its own alg only; a JWK without alg only the first listed algorithm its kty and crv fit', async (t) => {
  const issuer = await fixture(t)
  const es = await publishedKey(issuer, 'ES256', 'es')
  const rsNoAlg = await publishedKey(issuer, 'RS256', 'rs-no-alg', false)
  const esNoAlg = await publishedKey(issuer, 'ES256', 'es-no-alg', false)
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] })
  // The fixture's RS256 key is published with alg RS256: a PS256 signature by that same key is refused.
  const rsBound = issuer.current
  assertAccepted(t, await getWithToken(app, await sign(issuer, rsBound, 'RS256')))
  assertRefused(t, await getWithToken(app, await sign(issuer, rsBound, 'PS256')), invalid(issuer, 'token alg PS256 is not that of its key'))
  // The ES256-bound key under an EdDSA header (signed by an Ed25519 key that claims its kid).
  const ed = await fixtureKeyPair('EdDSA')
  assertRefused(t, await getWithToken(app, await sign(issuer, { ...es, privateKey: ed.privateKey }, 'EdDSA')), invalid(issuer, 'token alg EdDSA is not that of its key'))
  // Without alg in the JWK: an RSA key serves the first listed RSA algorithm (RS256), never
  // also PS256 (RFC 8725 §3.1: one algorithm per key); an EC P-256 key ES256, never EdDSA.
  assertAccepted(t, await getWithToken(app, await sign(issuer, rsNoAlg, 'RS256')))
  assertRefused(t, await getWithToken(app, await sign(issuer, rsNoAlg, 'PS256')), invalid(issuer, 'token alg PS256 is not that of its key'))
  assertAccepted(t, await getWithToken(app, await sign(issuer, esNoAlg, 'ES256')))
  assertRefused(t, await getWithToken(app, await sign(issuer, { ...esNoAlg, privateKey: ed.privateKey }, 'EdDSA')), invalid(issuer, 'token alg EdDSA is not that of its key'))
  // A JWK whose alg is not listed is not used at all: its kid is unknown.
  const es384 = await generateKeyPair('ES384')
  issuer.extraJwks.push({ ...(await exportJWK(es384.publicKey)), kid: 'es384', alg: 'ES384', use: 'sig' })
  const es384Token = await signToken({ kid: 'es384', privateKey: es384.privateKey, publicJwk: {} }, accessTokenClaims(issuer.issuer, issuer.audience), { alg: 'ES384' })
  assertRefused(t, await getWithToken(app, es384Token), invalid(issuer, 'token alg must be RS256 or PS256 or ES256 or EdDSA'))
})

t.test("what jose's createLocalJWKSet enforces (the same rules, used by latchkey's own verifiers)", async (t) => {
  const rs = await fixtureKeyPair('RS256')
  const es = await fixtureKeyPair('ES256')
  const ed = await fixtureKeyPair('EdDSA')
  const jwks = createLocalJWKSet({
    keys: [
      { ...rs.publicJwk, kid: 'rs', alg: 'RS256' },
      { ...rs.publicJwk, kid: 'rs-no-alg' },
      { ...es.publicJwk, kid: 'es-no-alg' },
    ],
  })
  const token = async (kid: string, alg: string, key = rs.privateKey) =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).sign(alg.startsWith('PS') ? await importJWK(await exportJWK(key), alg) : key)
  await t.resolves(jwtVerify(await token('rs', 'RS256'), jwks))
  await t.rejects(jwtVerify(await token('rs', 'PS256'), jwks), errors.JWKSNoMatchingKey, 'a JWK with alg RS256 is not used for PS256')
  await t.resolves(jwtVerify(await token('rs-no-alg', 'PS256'), jwks), 'without alg, any RSA algorithm')
  await t.rejects(jwtVerify(await token('es-no-alg', 'EdDSA', ed.privateKey), jwks), errors.JWKSNoMatchingKey, 'without alg, kty and crv must fit')
  await t.resolves(jwtVerify(await token('es-no-alg', 'ES256', es.privateKey), jwks))
  const hsInput = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'rs' })).toString('base64url')}.e30`
  await t.rejects(jwtVerify(`${hsInput}.${createHmac('sha256', 'x').update(hsInput).digest('base64url')}`, jwks), errors.JOSENotSupported, 'HMAC is never looked up in a JWK Set')
})
