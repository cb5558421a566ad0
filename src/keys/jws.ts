import { createPrivateKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import type { SigningAlg } from './key-file.js'

/** The node:crypto key type of each algorithm latchkey signs with. */
const KEY_TYPES: Record<SigningAlg, string> = { RS256: 'rsa', ES256: 'ec', EdDSA: 'ed25519' }

/**
 * A private JWK as a node:crypto KeyObject, made once per loaded key: signing with it avoids
 * WebCrypto's per-call overhead (jose's SignJWT). Throws when the JWK is not a private key of
 * `alg`'s type (an EC key on another curve included).
 */
export function privateKeyObject(jwk: JWK, alg: SigningAlg): KeyObject {
  const key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
  if (key.asymmetricKeyType !== KEY_TYPES[alg]) throw new TypeError(`not an ${alg} key`)
  if (alg === 'ES256' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new TypeError('not a P-256 key')
  return key
}

/** The JOSE header of what latchkey signs: `alg` is the key's, never the caller's. */
export interface JwsHeader {
  kid: string
  typ: string
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * RFC 7515 compact serialisation, signed with node:crypto: BASE64URL(header) "." BASE64URL(payload)
 * "." BASE64URL(signature). The header is `{alg, kid, typ}` in that order (as jose's SignJWT
 * wrote it). ES256 signatures are R || S (RFC 7518 §3.4), not DER; EdDSA is Ed25519 (RFC 8037).
 */
export function signCompactJws(key: { alg: SigningAlg; privateKey: KeyObject }, header: JwsHeader, payload: Record<string, unknown>): string {
  const { alg, privateKey } = key
  if (privateKey.asymmetricKeyType !== KEY_TYPES[alg]) throw new TypeError(`the key for ${alg} is a ${privateKey.asymmetricKeyType ?? 'secret'} key`)
  const input = `${base64url({ alg, kid: header.kid, typ: header.typ })}.${base64url(payload)}`
  const data = Buffer.from(input)
  const signature =
    alg === 'RS256'
      ? sign('sha256', data, privateKey)
      : alg === 'ES256'
        ? sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        : sign(null, data, privateKey)
  return `${input}.${signature.toString('base64url')}`
}
