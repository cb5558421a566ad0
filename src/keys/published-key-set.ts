import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import type { Clock } from '../clock.js'
import type { KeyStore } from './key-store.js'

/**
 * latchkey's published keys at this moment, as a jose key set, for checking the tokens it issued
 * itself: a retired key stops verifying the moment it retires. Rebuilt only when the published
 * set changes (the store hands back the same object until then), so jose's imported-key cache
 * survives and a new key is trusted at once.
 */
export function publishedKeySet(keys: KeyStore, clock: Clock): () => JWTVerifyGetKey {
  let jwks: ReturnType<KeyStore['jwks']> | undefined
  let keySet: JWTVerifyGetKey | undefined
  return () => {
    const now = keys.jwks(clock.now())
    if (keySet === undefined || now !== jwks) {
      keySet = createLocalJWKSet(now)
      jwks = now
    }
    return keySet
  }
}
