import { OAuthError } from '../errors.js'
import type { Params } from './params.js'
import { digestMatchesHash, secretMatchesHash, sha256Digest, sha256Hex } from './secrets.js'

// Compared against when the client is unknown, so both paths do the same work.
const DUMMY_HASH = sha256Hex('latchkey-no-such-client')

/** What a request says about its client: who it claims to be, and the secret if any. */
export interface ClientCredentials {
  clientId: string
  secret: string | undefined
}

/** The part of a registered client that authentication looks at. */
export interface AuthenticatableClient {
  id: string
  isPublic: boolean
  /** SHA-256 (hex) of the secret; null for a public client. */
  secretHash: string | null
  /** After a rotation with a grace period: the old secret's hash, accepted until the time below. */
  previousSecretHash?: string | null
  previousSecretExpiresAt?: number | null
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function parseBasic(header: string): ClientCredentials {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header)
  if (!match) throw OAuthError.invalidClient('malformed Basic authorization header')
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw OAuthError.invalidClient('malformed Basic authorization header')
  try {
    const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '))
    const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '))
    if (clientId === '' || clientId.includes('\u0000') || secret.includes('\u0000')) {
      throw OAuthError.invalidClient('malformed Basic authorization header')
    }
    return { clientId, secret }
  } catch (error) {
    if (error instanceof OAuthError) throw error
    throw OAuthError.invalidClient('malformed Basic authorization header')
  }
}

/**
 * The client credentials of a token-endpoint request (RFC 6749 §2.3.1): client_secret_basic or
 * client_secret_post, or a bare client_id for a public client. Only parses: the caller looks
 * the client up by `clientId` and passes it to `authenticateClient`.
 */
export function clientCredentials(request: { authorization: string | undefined; params: Params }): ClientCredentials {
  const { params } = request
  const bodyId = params.get('client_id')
  const bodySecret = params.get('client_secret')
  if (request.authorization !== undefined && request.authorization !== '') {
    if (!/^Basic /i.test(request.authorization)) throw OAuthError.invalidClient('unsupported authorization scheme')
    if (bodySecret !== undefined) {
      throw new OAuthError('invalid_request', 'use one client authentication method, not both')
    }
    const credentials = parseBasic(request.authorization)
    if (bodyId !== undefined && bodyId !== credentials.clientId) {
      throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
    }
    return credentials
  }
  if (bodyId === undefined) throw OAuthError.invalidClient('client authentication is required')
  return { clientId: bodyId, secret: bodySecret }
}

/**
 * Whether the secret is the client's, or its previous one within the grace period. The secret
 * is hashed once and both hashes are always compared, each in constant time, so the timing says
 * nothing about which matched.
 */
function secretMatches(secret: string, client: AuthenticatableClient & { secretHash: string }, now: number): boolean {
  const digest = sha256Digest(secret)
  const current = digestMatchesHash(digest, client.secretHash)
  const previousHash = client.previousSecretHash ?? DUMMY_HASH
  const previousValid = client.previousSecretHash != null && (client.previousSecretExpiresAt ?? 0) > now
  const previous = digestMatchesHash(digest, previousHash)
  return current || (previous && previousValid)
}

/**
 * Checks the credentials against the client registered under their `clientId` (undefined when
 * there is none) and returns that client; every failure is the same `invalid_client`. `now`
 * decides whether a previous secret is still in its grace period.
 */
export function authenticateClient<C extends AuthenticatableClient>(credentials: ClientCredentials, client: C | undefined, now: number): C {
  if (!client) {
    if (credentials.secret !== undefined) secretMatchesHash(credentials.secret, DUMMY_HASH)
    throw OAuthError.invalidClient('client authentication failed')
  }
  if (client.isPublic) {
    // A public client has no secret; one that sends a secret is misconfigured or forged.
    if (credentials.secret !== undefined) throw OAuthError.invalidClient('client authentication failed')
    return client
  }
  // OAuth 2.1 §3.2.1: confidential clients must authenticate.
  if (credentials.secret === undefined || client.secretHash === null) {
    throw OAuthError.invalidClient('client authentication failed')
  }
  if (!secretMatches(credentials.secret, { ...client, secretHash: client.secretHash }, now)) {
    throw OAuthError.invalidClient('client authentication failed')
  }
  return client
}
