import { generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, type JWK } from 'jose'
import t from 'tap'
import { privateKeyObject, signCompactJws } from '../../src/keys/jws.js'
import { SIGNING_ALGS, type SigningAlg } from '../../src/keys/key-file.js'
import { accessTokenSigner } from '../../src/tokens/access-token.js'
import { idTokenSigner } from '../../src/tokens/id-token.js'
import { FakeClock } from '../helpers/clock.js'
import { fixtureMultiAlgKeyStore } from '../helpers/keys.js'

const keys = await fixtureMultiAlgKeyStore()
const publicJwk = (kid: string) => keys.jwks().keys.find((k) => k.kid === kid)! as JWK
const payload = { iss: 'https://as.example', sub: 'u', aud: 'https://api.example', iat: 1_800_000_000, exp: 1_800_000_600, scope: 'a b', cnf: { jkt: 'x' } }

t.test('every algorithm: jose verifies the compact JWS, with exactly the header and payload given', async (t) => {
  for (const alg of SIGNING_ALGS) {
    const key = keys.signingKey(alg)
    const token = signCompactJws(key, { kid: key.kid, typ: 'at+jwt' }, payload)
    const [header, body, signature] = token.split('.')
    t.equal(Buffer.from(header!, 'base64url').toString(), JSON.stringify({ alg, kid: key.kid, typ: 'at+jwt' }), `${alg}: header {alg, kid, typ}`)
    t.equal(Buffer.from(body!, 'base64url').toString(), JSON.stringify(payload), `${alg}: payload as given`)
    t.match(signature, /^[A-Za-z0-9_-]+$/, `${alg}: base64url, no padding`)
    const verified = await jwtVerify(token, await importJWK(publicJwk(key.kid), alg), { algorithms: [alg], typ: 'at+jwt', currentDate: new Date(1_800_000_100_000) })
    t.same(verified.payload, payload, `${alg}: jose verifies it`)
    t.same(verified.protectedHeader, { alg, kid: key.kid, typ: 'at+jwt' })
    // A verifier pinned to another algorithm refuses it.
    const other = SIGNING_ALGS.find((a) => a !== alg)!
    await t.rejects(jwtVerify(token, await importJWK(publicJwk(key.kid), alg), { algorithms: [other] }), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' })
  }
})

t.test('ES256 signatures are R || S (64 bytes, RFC 7518 §3.4), EdDSA 64 bytes, RS256 the modulus size', async (t) => {
  const length = (alg: SigningAlg) => {
    const key = keys.signingKey(alg)
    return Buffer.from(signCompactJws(key, { kid: key.kid, typ: 'JWT' }, {}).split('.')[2]!, 'base64url').length
  }
  t.equal(length('ES256'), 64)
  t.equal(length('EdDSA'), 64)
  t.equal(length('RS256'), 256)
})

t.test('RS256 (deterministic) is byte for byte what jose SignJWT wrote', async (t) => {
  const key = keys.signingKey('RS256')
  const jwk = JSON.parse(JSON.stringify(key.privateKey.export({ format: 'jwk' }))) as JWK
  const viaJose = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }).sign(await importJWK(jwk, 'RS256'))
  t.equal(signCompactJws(key, { kid: key.kid, typ: 'at+jwt' }, payload), viaJose)
})

t.test('a key of another type than its algorithm is refused, when made and when signing', async (t) => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
  t.throws(() => signCompactJws({ alg: 'RS256', privateKey: ec }, { kid: 'k', typ: 'JWT' }, {}), /the key for RS256 is a ec key/)
  t.throws(() => privateKeyObject(ec.export({ format: 'jwk' }) as JWK, 'EdDSA'), /not an EdDSA key/)
  t.throws(() => privateKeyObject(p384.export({ format: 'jwk' }) as JsonWebKey as JWK, 'ES256'), /not a P-256 key/)
  t.equal(privateKeyObject(ec.export({ format: 'jwk' }) as JWK, 'ES256').asymmetricKeyType, 'ec')
})

/** The access token exactly as the jose SignJWT code before this change built it. */
async function joseAccessToken(kid: string, privateJwk: JWK, claims: Record<string, unknown>) {
  const { iss, sub, aud, iat, exp, jti, ...rest } = claims as Record<string, string | number>
  return new SignJWT(rest)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
    .setIssuer(iss as string)
    .setSubject(sub as string)
    .setAudience(aud as string)
    .setIssuedAt(iat as number)
    .setExpirationTime(exp as number)
    .setJti(jti as string)
    .sign(await importJWK(privateJwk, 'RS256'))
}

t.test('access and ID tokens: header and claims exactly as before, whatever the algorithm', async (t) => {
  const clock = new FakeClock()
  const rsKey = keys.signingKey('RS256')
  const privateJwk = rsKey.privateKey.export({ format: 'jwk' }) as JWK
  const claims = { subject: 'user-1', clientId: 'lk_app', audience: 'https://api.example', scopes: ['openid', 'profile'], authTime: clock.now() - 5000, confirmation: { jkt: 'thumb' } }
  const rs = await accessTokenSigner({ keys, clock, issuer: 'https://as.example', ttlSeconds: 600 }).issue(claims)
  const decoded = decodeJwt(rs.token)
  t.same(Object.keys(decoded), ['client_id', 'scope', 'auth_time', 'cnf', 'iss', 'sub', 'aud', 'iat', 'exp', 'jti'], 'claims in the order SignJWT wrote them')
  t.equal(rs.token, await joseAccessToken(rsKey.kid, privateJwk, decoded), 'RS256: byte for byte the token jose made')
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const issued = await accessTokenSigner({ keys, clock, issuer: 'https://as.example', ttlSeconds: 600, alg }).issue(claims)
    t.same(decodeProtectedHeader(issued.token), { alg, kid: keys.signingKey(alg).kid, typ: 'at+jwt' }, `${alg}: header`)
    const verified = await jwtVerify(issued.token, await importJWK(publicJwk(keys.signingKey(alg).kid), alg), { algorithms: [alg], typ: 'at+jwt', currentDate: new Date(clock.now()) })
    t.same(verified.payload, { ...decoded, jti: issued.jti }, `${alg}: the same claims`)
  }
  const idToken = await idTokenSigner({ keys, clock, issuer: 'https://as.example', ttlSeconds: 600 }).issue({ subject: 'user-1', clientId: 'lk_app', authTime: clock.now(), amr: ['pwd'], nonce: 'n', accessToken: rs.token })
  t.same(decodeProtectedHeader(idToken), { alg: 'RS256', kid: rsKey.kid, typ: 'JWT' })
  t.same(Object.keys(decodeJwt(idToken)), ['auth_time', 'at_hash', 'acr', 'amr', 'nonce', 'iss', 'sub', 'aud', 'iat', 'exp'])
  const { iss, sub, aud, iat, exp, ...rest } = decodeJwt(idToken) as Record<string, string | number>
  const viaJose = await new SignJWT(rest)
    .setProtectedHeader({ alg: 'RS256', kid: rsKey.kid, typ: 'JWT' })
    .setIssuer(iss as string)
    .setSubject(sub as string)
    .setAudience(aud as string)
    .setIssuedAt(iat as number)
    .setExpirationTime(exp as number)
    .sign(await importJWK(privateJwk, 'RS256'))
  t.equal(idToken, viaJose, 'ID token: byte for byte the token jose made')
})
