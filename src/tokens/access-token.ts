import { randomUUID } from 'node:crypto'
import { acrOf, type AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { signCompactJws } from '../keys/jws.js'
import type { SigningAlg } from '../keys/key-file.js'
import type { KeyStore } from '../keys/key-store.js'
import { formatScope } from '../oauth/scope.js'

export interface AccessTokenClaims {
  /** The user's id, or the client_id for client credentials. */
  subject: string
  clientId: string
  audience: string
  scopes: readonly string[]
  /** Epoch ms of the user's authentication; absent for client tokens. */
  authTime?: number | undefined
  /** RFC 8176 methods of the user's sign-in: the `amr` and `acr` claims; absent for client tokens. */
  amr?: readonly AuthMethod[] | undefined
  /** RFC 7800 `cnf`: the key a sender-constrained token is bound to; absent for a bearer token. */
  confirmation?: Readonly<Record<string, unknown>> | undefined
}

export interface IssuedAccessToken {
  token: string
  jti: string
  issuedAt: number
  expiresAt: number
  expiresInSeconds: number
}

export interface AccessTokenSigner {
  issue(claims: AccessTokenClaims): Promise<IssuedAccessToken>
}

/**
 * RFC 9068 JWT access tokens, signed with the current key of `alg` (SIGNING_ALG, default RS256),
 * or with the RS256 key while `alg`'s first key is published but not yet signing.
 */
export function accessTokenSigner(deps: { keys: KeyStore; clock: Clock; issuer: string; ttlSeconds: number; alg?: SigningAlg | undefined }): AccessTokenSigner {
  const alg = deps.alg ?? 'RS256'
  return {
    async issue(claims) {
      const now = deps.clock.now()
      const key = deps.keys.accessTokenKey(alg, now)
      const iat = Math.floor(now / 1000)
      const exp = iat + deps.ttlSeconds
      const jti = randomUUID()
      const payload: Record<string, unknown> = {
        client_id: claims.clientId,
        scope: formatScope(claims.scopes),
      }
      if (claims.authTime !== undefined) payload.auth_time = Math.floor(claims.authTime / 1000)
      // RFC 9068 §2.2.1: acr and amr, as in the ID token.
      if (claims.amr !== undefined) {
        payload.acr = acrOf(claims.amr)
        payload.amr = [...claims.amr]
      }
      if (claims.confirmation !== undefined) payload.cnf = claims.confirmation
      payload.iss = deps.issuer
      payload.sub = claims.subject
      payload.aud = claims.audience
      payload.iat = iat
      payload.exp = exp
      payload.jti = jti
      const token = signCompactJws(key, { kid: key.kid, typ: 'at+jwt' }, payload)
      return { token, jti, issuedAt: iat * 1000, expiresAt: exp * 1000, expiresInSeconds: deps.ttlSeconds }
    },
  }
}
