import { BearerError, bodyFor, challengeFor, type BearerErrorBody } from './errors.js'
import { hasScopes, type AccessTokenClaims } from './verify.js'

/** What `authenticate` decided: the claims, or the RFC 6750 answer to send as it is. */
export type AuthenticationResult =
  | { ok: true; claims: AccessTokenClaims }
  | {
    ok: false
    status: 400 | 401 | 403 | 503
    /** `content-type`, and `www-authenticate` except on a 503. */
    headers: Record<string, string>
    body: BearerErrorBody
    /** For logs: `description` and `cause` (never the token). */
    error: BearerError
  }

/** Checks an `Authorization` header value and the scopes it must grant (none: any valid token). */
export type Authenticate = (authorizationHeader: string | undefined, scopes?: readonly string[]) => Promise<AuthenticationResult>

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
// The header nearly every request sends: one pass instead of the checks below.
const PLAIN_BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); "a b" would never match.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** The token from an `Authorization: Bearer …` header (RFC 6750 §2.1), or a BearerError. */
export function bearerToken(header: string | undefined): string {
  // A header sent twice reaches node:http code as an array; nothing but one string is a credential.
  if (typeof header !== 'string') throw BearerError.missing()
  const plain = PLAIN_BEARER.exec(header)?.[1]
  if (plain !== undefined) return plain
  const space = header.search(/\s/)
  const scheme = space === -1 ? header : header.slice(0, space)
  // RFC 7235 §2.1: the scheme name is case-insensitive. Another scheme means no bearer
  // credentials, which RFC 6750 §3.1 answers without an error code.
  if (scheme.toLowerCase() !== 'bearer') throw BearerError.missing()
  const credentials = space === -1 ? '' : header.slice(space).trim()
  if (credentials === '') throw BearerError.invalidRequest('bearer token is missing')
  if (/\s/.test(credentials)) throw BearerError.invalidRequest('only one bearer token is allowed')
  if (!B64TOKEN.test(credentials)) throw BearerError.invalidRequest('bearer token has invalid characters')
  return credentials
}

/** Throws a TypeError (a bug in the caller) for anything that is not a scope name. */
export function checkScopeNames(scopes: readonly string[]): void {
  const bad = scopes.find((scope) => typeof scope !== 'string' || !SCOPE_TOKEN.test(scope))
  if (bad !== undefined) throw new TypeError(`not a scope name: ${JSON.stringify(bad)}`)
}

export interface AuthenticateOptions {
  verify: (token: string) => Promise<AccessTokenClaims>
  realm: string
  /** The RFC 9728 metadata URL for the challenges; undefined: none. */
  resourceMetadataUrl: string | undefined
}

/**
 * Builds `authenticate`, the one path every request takes, fastify or not. Only the header is
 * read: RFC 6750 §2.3 query tokens are not supported (OAuth 2.1 §5.1).
 */
export function createAuthenticate(options: AuthenticateOptions): Authenticate {
  const { verify, realm, resourceMetadataUrl } = options
  const refused = (error: unknown): AuthenticationResult => {
    // Anything else is a bug: the caller's framework answers 500.
    if (!(error instanceof BearerError)) throw error
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' }
    const challenge = challengeFor(error, realm, resourceMetadataUrl)
    if (challenge !== undefined) headers['www-authenticate'] = challenge
    return { ok: false, status: error.status, headers, body: bodyFor(error), error }
  }
  // Promise chains, not async functions: one promise per request on the hot path.
  return (authorizationHeader, scopes = []) => {
    let token: string
    try {
      checkScopeNames(scopes)
      token = bearerToken(authorizationHeader)
    } catch (error) {
      return new Promise((resolve) => resolve(refused(error)))
    }
    return verify(token).then(
      (claims): AuthenticationResult => (hasScopes(claims, scopes) ? { ok: true, claims } : refused(BearerError.insufficientScope(scopes))),
      refused,
    )
  }
}
