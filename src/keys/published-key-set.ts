import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import type { KeyStore } from './key-store.js'

/**
 * latchkey's published keys as a jose key set, for checking the tokens it issued itself.
 * Rebuilt only when the published keys change (rotation), identified by kid and modulus, so an
 * unchanged set keeps jose's imported-key cache and a new key is trusted at once.
 */
export function publishedKeySet(keys: KeyStore): () => JWTVerifyGetKey {
  let fingerprint: string | undefined
  let keySet: JWTVerifyGetKey | undefined
  return () => {
    const jwks = keys.jwks()
    const current = jwks.keys.map((k) => `${k.kid}.${k.n}`).join(' ')
    if (keySet === undefined || current !== fingerprint) {
      keySet = createLocalJWKSet(jwks)
      fingerprint = current
    }
    return keySet
  }
}
