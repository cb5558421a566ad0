import { errors } from 'jose'
import type { Clock } from '../clock.js'
import type { SigningAlg } from '../keys/key-file.js'
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
  /** RFC 8176 `amr` and OIDC `acr` of a user's token; undefined for a client's token (or an older one). */
  amr: string[] | undefined
  acr: string | undefined
}

export interface AccessTokenVerifier {
  /**
   * The claims of a token signed by one of latchkey's published keys, with this issuer, typed
   * at+jwt and not expired by the clock; undefined for anything else. Revocation is not
   * checked here: callers look the jti up in the revoked list.
   */
  verify(token: string): Promise<VerifiedAccessToken | undefined>
}

/**
 * RFC 8725 §3.1: the algorithms latchkey signs access tokens with: RS256, SIGNING_ALG, and that
 * of any other key it still publishes (SIGNING_ALG changed back: tokens that key signed are
 * valid until they expire, and it is published exactly as long). All asymmetric, never none or
 * HMAC; jose uses a JWK only for the alg it names, so each key verifies its own algorithm only.
 */
export function accessTokenAlgorithms(alg: SigningAlg, published: ReadonlyArray<{ alg: SigningAlg }>): SigningAlg[] {
  return [...new Set<SigningAlg>(['RS256', alg, ...published.map((k) => k.alg)])]
}

export function accessTokenVerifier(deps: { keys: KeyStore; clock: Clock; issuer: string; alg: SigningAlg }): AccessTokenVerifier {
  const verifyJwt = publishedKeyVerifier(deps.keys, deps.clock)
  const alg = deps.alg
  let algorithms: { for: ReturnType<KeyStore['jwks']>; list: SigningAlg[] } | undefined
  // The store hands back the same JWKS object until the published set changes.
  const allowed = () => {
    const jwks = deps.keys.jwks(deps.clock.now())
    if (algorithms?.for !== jwks) algorithms = { for: jwks, list: accessTokenAlgorithms(alg, jwks.keys) }
    return algorithms.list
  }

  async function verifiedPayload(token: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { payload } = await verifyJwt(token, () => ({
        algorithms: allowed(),
        // RFC 9068 §4: explicit typing, exact issuer.
        typ: 'at+jwt',
        issuer: deps.issuer,
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'aud', 'client_id'],
        // No leeway: latchkey judges its own tokens by its own clock.
        currentDate: new Date(deps.clock.now()),
        clockTolerance: 0,
      }))
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
      const { jti, iss, sub, client_id: clientId, aud, scope, iat, exp, auth_time: authTime, amr, acr } = payload
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
        (authTime !== undefined && typeof authTime !== 'number') ||
        (amr !== undefined && !isStringList(amr)) ||
        (acr !== undefined && typeof acr !== 'string')
      ) {
        return undefined
      }
      return { jti, issuer: iss, subject: sub, clientId, audience, scope: scope ?? '', issuedAtSeconds: iat, expiresAtSeconds: exp, authTimeSeconds: authTime, amr, acr }
    },
  }
}
