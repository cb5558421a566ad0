import { createLocalJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose'
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

/**
 * jwtVerify against the published keys. A token whose kid is unknown, or whose algorithm is not
 * (yet) among those allowed, makes the store read KEYS_DIR once more (rate-limited) before it is
 * refused, and `options` (whose allowed algorithms follow the published keys) is asked again:
 * after `keys rotate --now` on another instance, even of an algorithm this one has no key of
 * yet, a token that instance signed verifies here at once, not after the next poll.
 */
export function publishedKeyVerifier(keys: KeyStore, clock: Clock): (token: string, options: () => JWTVerifyOptions) => Promise<JWTVerifyResult> {
  const keySet = publishedKeySet(keys, clock)
  return async (token, options) => {
    try {
      return await jwtVerify(token, keySet(), options())
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) && !(error instanceof errors.JOSEAlgNotAllowed)) throw error
      await keys.refresh()
      return jwtVerify(token, keySet(), options())
    }
  }
}
