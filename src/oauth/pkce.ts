import { createHash, timingSafeEqual } from 'node:crypto'
import { OAuthError } from '../errors.js'

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

export interface PkceChallenge {
  challenge: string
  method: 'S256'
}

/**
 * Validates the challenge of an authorization request. Only S256 is accepted
 * (OAuth 2.1 §4.1.1; RFC 9700 §2.1.1), and the method must be stated.
 */
export function parseChallenge(challenge: string | undefined, method: string | undefined): PkceChallenge | undefined {
  if (challenge === undefined) {
    if (method !== undefined) throw new OAuthError('invalid_request', 'code_challenge_method was sent without code_challenge')
    return undefined
  }
  if (method === undefined) throw new OAuthError('invalid_request', 'code_challenge_method is required (S256)')
  if (method !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256')
  if (!S256_CHALLENGE.test(challenge)) {
    throw new OAuthError('invalid_request', 'code_challenge must be 43 base64url characters')
  }
  return { challenge, method }
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url')
}

/** Whether the verifier matches the S256 challenge, compared in constant time. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false
  const expected = Buffer.from(challenge, 'utf8')
  const actual = Buffer.from(s256(verifier), 'utf8')
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
