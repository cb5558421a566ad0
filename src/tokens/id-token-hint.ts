import { errors, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import type { KeyStore } from '../keys/key-store.js'
import { publishedKeyVerifier } from '../keys/published-key-set.js'
import { isStringList } from './claims.js'

/** The claims of an ID token latchkey issued, read back from an `id_token_hint`. */
export interface IdTokenHint {
  /** The user's id. */
  subject: string
  /** `aud` as a list, whether the token carries a string or an array. */
  audience: string[]
  /** `azp`, when the token names one. */
  authorizedParty: string | undefined
  expiresAtSeconds: number
  /** Whether `exp` has passed by the clock (still a valid hint). */
  expired: boolean
  /** `auth_time`: which sign-in the token was issued for. */
  authTimeSeconds: number | undefined
}

export interface IdTokenHintVerifier {
  /**
   * The claims of an ID token signed by one of latchkey's published keys, with this issuer and
   * typed JWT, expired or not; undefined for anything else (access tokens included).
   */
  verify(token: string): Promise<IdTokenHint | undefined>
}

export function idTokenHintVerifier(deps: { keys: KeyStore; clock: Clock; issuer: string }): IdTokenHintVerifier {
  const verifyJwt = publishedKeyVerifier(deps.keys, deps.clock)

  async function payloadAt(token: string, date: Date): Promise<JWTPayload> {
    const { payload } = await verifyJwt(token, () => ({
      // RFC 8725 §3.1: the one algorithm latchkey signs with; never none, never HMAC.
      algorithms: ['RS256'],
      // RFC 8725 §3.11: explicit typing; an access token (at+jwt) is not an ID token.
      typ: 'JWT',
      issuer: deps.issuer,
      requiredClaims: ['sub', 'aud', 'exp', 'iat'],
      currentDate: date,
      clockTolerance: 0,
    }))
    return payload
  }

  /** Every check, as of now or, for an expired token, as of the second before it expired. */
  async function verifiedPayload(token: string): Promise<{ payload: JWTPayload; expired: boolean }> {
    try {
      return { payload: await payloadAt(token, new Date(deps.clock.now())), expired: false }
    } catch (error) {
      if (!(error instanceof errors.JWTExpired) || error.claim !== 'exp') throw error
      // OIDC RP-Initiated Logout 1.0 §2: the OP SHOULD accept an ID token whose exp has passed.
      // Signature, typ, iss and nbf are checked again rather than trusting jose's check order.
      const exp = error.payload.exp
      if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= 0) throw error
      return { payload: await payloadAt(token, new Date((exp - 1) * 1000)), expired: true }
    }
  }

  return {
    async verify(token) {
      let verified: { payload: JWTPayload; expired: boolean }
      try {
        verified = await verifiedPayload(token)
      } catch (error) {
        // Malformed, forged, foreign or mistyped: not an ID token of ours.
        if (error instanceof errors.JOSEError) return undefined
        throw error
      }
      const { sub, aud, azp, exp, auth_time: authTime } = verified.payload
      const audience = typeof aud === 'string' ? [aud] : aud
      if (
        typeof sub !== 'string' ||
        !isStringList(audience) ||
        typeof exp !== 'number' ||
        (azp !== undefined && typeof azp !== 'string') ||
        (authTime !== undefined && typeof authTime !== 'number')
      ) {
        return undefined
      }
      return { subject: sub, audience, authorizedParty: azp, expiresAtSeconds: exp, expired: verified.expired, authTimeSeconds: authTime }
    },
  }
}
