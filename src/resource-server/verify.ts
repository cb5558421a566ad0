import { errors, jwtVerify, type CompactJWSHeaderParameters, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { BearerError } from './errors.js'
import type { KeySet } from './key-set.js'

/** The claims of a verified RFC 9068 access token. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  jti: string
  client_id: string
  /** Space-separated (RFC 9068 §2.2.3); absent when the token carries no scope. */
  scope?: string
  [claim: string]: unknown
}

export interface TokenVerifierOptions {
  issuer: string
  audience: string
  /** Seconds. */
  clockTolerance: number
  /** Validated: asymmetric JWS algorithms only. */
  algorithms: readonly string[]
  keys: KeySet
  clock: (() => number) | undefined
}

// RFC 9068 §4 and RFC 8725 §3.11: the typ header must be at+jwt (media type names are
// case-insensitive and the "application/" prefix is optional, RFC 7515 §4.1.9).
const ACCESS_TOKEN_TYP = /^(?:application\/)?at\+jwt$/i

export function createTokenVerifier(options: TokenVerifierOptions): (token: string) => Promise<AccessTokenClaims> {
  const { keys, clock } = options
  const verifyOptions: JWTVerifyOptions = {
    // RFC 9068 §4 / RFC 8725 §3.1: only the algorithms the issuer signs with. This refuses
    // `none` and HS256-with-the-public-key before any key is looked at.
    algorithms: [...options.algorithms],
    // RFC 9068 §4: iss must match exactly and aud must contain our identifier.
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: options.clockTolerance,
    // RFC 9068 §2.2: REQUIRED claims (iss and aud are required by the options above).
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
  }

  // Called by jose after the alg check and before the signature check, with the parsed header.
  const keyFor = (header: CompactJWSHeaderParameters) => {
    if (typeof header.typ !== 'string' || !ACCESS_TOKEN_TYP.test(header.typ)) {
      throw BearerError.invalidToken('token typ must be at+jwt')
    }
    if (typeof header.kid !== 'string') throw BearerError.invalidToken('token has no kid')
    // jose checked header.alg against `algorithms` already; each key verifies its own alg only.
    return keys.key(header.kid, header.alg)
  }
  const algNotAllowed = `token alg must be ${options.algorithms.join(' or ')}`

  // No async wrapper: one promise per token, not three.
  const invalid = (error: unknown): never => {
    throw asBearerError(error, algNotAllowed)
  }
  return (token) => {
    let current = verifyOptions
    try {
      if (clock !== undefined) current = { ...verifyOptions, currentDate: new Date(clock()) }
    } catch (error) {
      // A rejection, as every other failure is, never a throw.
      return Promise.reject(error)
    }
    return jwtVerify(token, keyFor, current).then(({ payload }) => checkClaimTypes(payload), invalid)
  }
}

function checkClaimTypes(payload: JWTPayload): AccessTokenClaims {
  for (const claim of ['sub', 'client_id', 'jti'] as const) {
    if (typeof payload[claim] !== 'string') throw BearerError.invalidToken(`token ${claim} claim must be a string`)
  }
  if (payload.scope !== undefined && typeof payload.scope !== 'string') {
    throw BearerError.invalidToken('token scope claim must be a string')
  }
  return payload as AccessTokenClaims
}

/** Every jose failure is the token's fault; the descriptions say which check failed. */
function asBearerError(error: unknown, algNotAllowed: string): BearerError {
  if (error instanceof BearerError) return error
  if (error instanceof errors.JWTExpired) return BearerError.invalidToken('token has expired')
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return BearerError.invalidToken('token is from another issuer')
    if (error.claim === 'aud') return BearerError.invalidToken('token is for another audience')
    if (error.claim === 'nbf') return BearerError.invalidToken('token is not valid yet')
    return BearerError.invalidToken(`token ${error.claim} claim is ${error.reason === 'missing' ? 'missing' : 'invalid'}`)
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return BearerError.invalidToken(algNotAllowed)
  if (error instanceof errors.JWSSignatureVerificationFailed) return BearerError.invalidToken('token signature is invalid')
  return BearerError.invalidToken('token is malformed', error)
}

/** True when the token's scope claim holds every one of `scopes`. */
export function hasScopes(claims: AccessTokenClaims, scopes: readonly string[]): boolean {
  if (scopes.length === 0) return true
  const granted = new Set((claims.scope ?? '').split(' '))
  return scopes.every((scope) => granted.has(scope))
}
