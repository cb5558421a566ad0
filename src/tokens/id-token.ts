import { createHash } from 'node:crypto'
import { acrOf, type AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { signCompactJws } from '../keys/jws.js'
import type { KeyStore } from '../keys/key-store.js'

export interface IdTokenClaims {
  /** The user's id. */
  subject: string
  /** The client the ID token is for: its `aud`. */
  clientId: string
  /** Epoch ms of the user's authentication. */
  authTime: number
  /** RFC 8176 methods of that authentication: the `amr` claim, and `acr` (OIDC Core §2) from it. */
  amr: readonly AuthMethod[]
  /** The nonce of the authorization request; never on refresh (OIDC Core §12.2). */
  nonce?: string | undefined
  /** The access token issued with it, for `at_hash`. */
  accessToken: string
}

export interface IdTokenSigner {
  issue(claims: IdTokenClaims): Promise<string>
}

/**
 * OIDC Core §3.1.3.6 at_hash: the left half of the SHA-256 of the access token's ASCII,
 * base64url (SHA-256 because the ID token is RS256).
 */
export function accessTokenHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken, 'ascii').digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

/**
 * OIDC Core §2 ID tokens, signed with the current RS256 key whatever SIGNING_ALG says (OIDC
 * Discovery §3: every relying party can verify RS256). The header says `typ: JWT`, never
 * `at+jwt`, so no resource server can take one for an access token (RFC 9068 §4).
 */
export function idTokenSigner(deps: { keys: KeyStore; clock: Clock; issuer: string; ttlSeconds: number }): IdTokenSigner {
  return {
    async issue(claims) {
      const now = deps.clock.now()
      const key = deps.keys.signingKey('RS256', now)
      const iat = Math.floor(now / 1000)
      const payload: Record<string, unknown> = {
        auth_time: Math.floor(claims.authTime / 1000),
        at_hash: accessTokenHash(claims.accessToken),
        acr: acrOf(claims.amr),
        amr: [...claims.amr],
      }
      if (claims.nonce !== undefined) payload.nonce = claims.nonce
      payload.iss = deps.issuer
      payload.sub = claims.subject
      payload.aud = claims.clientId
      payload.iat = iat
      payload.exp = iat + deps.ttlSeconds
      return signCompactJws(key, { kid: key.kid, typ: 'JWT' }, payload)
    },
  }
}
