import { errors } from 'jose'
import type { Clock } from '../clock.js'
import type { KeyStore } from '../keys/key-store.js'
import { publishedKeyVerifier } from '../keys/published-key-set.js'
import { isStringList } from './claims.js'

/** The claims of an access token latchkey issued (RFC 9068), as read back from it. */
export interface VerifiedAccessToken {
  jti: string
  issuer: string
  /** The user's id, or the client_id for client credentials. */
  subject: string
  clientId: string
  /** `aud` as a list, whether the token carries a string or an array. */
  audience: string[]
  /** The space-separated `scope` claim; '' when the token has none. */
  scope: string
  issuedAtSeconds: number
  expiresAtSeconds: number
  authTimeSeconds: number | undefined
}

export interface AccessTokenVerifier {
  /**
   * The claims of a token signed by one of latchkey's published keys, with this issuer, typed
   * at+jwt and not expired by the clock; undefined for anything else. Revocation is not
   * checked here: callers look the jti up in the revoked list.
   */
  verify(token: string): Promise<VerifiedAccessToken | undefined>
}

export function accessTokenVerifier(deps: { keys: KeyStore; clock: Clock; issuer: string }): AccessTokenVerifier {
  const verifyJwt = publishedKeyVerifier(deps.keys, deps.clock)

  async function verifiedPayload(token: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { payload } = await verifyJwt(token, {
        // RFC 8725 §3.1: the one algorithm latchkey signs with; never none, never HMAC.
        algorithms: ['RS256'],
        // RFC 9068 §4: explicit typing, exact issuer.
        typ: 'at+jwt',
        issuer: deps.issuer,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'aud', 'client_id'],
        // No leeway: latchkey judges its own tokens by its own clock.
        currentDate: new Date(deps.clock.now()),
        clockTolerance: 0,
      })
      return payload
    } catch (error) {
      // Malformed, forged, foreign or expired: not an access token of ours, nothing more to say.
      if (error instanceof errors.JOSEError) return undefined
      throw error
    }
  }

  return {
    async verify(token) {
      const payload = await verifiedPayload(token)
      if (payload === undefined) return undefined
      const { jti, iss, sub, client_id: clientId, aud, scope, iat, exp, auth_time: authTime } = payload
      const audience = typeof aud === 'string' ? [aud] : aud
      // Only latchkey's keys signed it, so these hold; checked anyway rather than cast.
      if (
        typeof jti !== 'string' ||
        typeof iss !== 'string' ||
        typeof sub !== 'string' ||
        typeof clientId !== 'string' ||
        !isStringList(audience) ||
        (scope !== undefined && typeof scope !== 'string') ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        (authTime !== undefined && typeof authTime !== 'number')
      ) {
        return undefined
      }
      return { jti, issuer: iss, subject: sub, clientId, audience, scope: scope ?? '', issuedAtSeconds: iat, expiresAtSeconds: exp, authTimeSeconds: authTime }
    },
  }
}
