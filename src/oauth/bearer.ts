import { OAuthError, type AnyOAuthError } from '../errors.js'

/**
 * Bearer tokens at the endpoints latchkey protects with its own access tokens (/userinfo):
 * reading the token (RFC 6750 §2) and the challenge that answers a refusal (§3). Refusals are
 * OAuthErrors, rendered by the error handler's `bearer` format. src/resource-server/ has its
 * own copy of these rules, as it imports nothing from the rest of src/.
 */

const invalidRequest = (description: string) => new OAuthError('invalid_request', description)

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * The token of an `Authorization` header (RFC 6750 §2.1); undefined when there is no header or
 * it uses another scheme, which is no bearer credentials rather than a malformed request.
 */
function headerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const space = header.search(/\s/)
  const scheme = space === -1 ? header : header.slice(0, space)
  // RFC 7235 §2.1: the scheme name is case-insensitive.
  if (scheme.toLowerCase() !== 'bearer') return undefined
  const credentials = space === -1 ? '' : header.slice(space).trim()
  if (credentials === '') throw invalidRequest('bearer token is missing')
  if (/\s/.test(credentials)) throw invalidRequest('only one bearer token is allowed')
  if (!B64TOKEN.test(credentials)) throw invalidRequest('bearer token has invalid characters')
  return credentials
}

/** The `access_token` form parameter (RFC 6750 §2.2); empty values count as absent. */
function formToken(values: readonly string[]): string | undefined {
  const present = values.filter((value) => value !== '')
  if (present.length > 1) throw invalidRequest('parameter access_token was sent more than once')
  const token = present[0]
  if (token !== undefined && !B64TOKEN.test(token)) throw invalidRequest('access_token has invalid characters')
  return token
}

/**
 * The one bearer token of a request, from the `Authorization` header or the form body's
 * `access_token` values (pass none for a GET). Never from the query string: OAuth 2.1 §5.1
 * drops RFC 6750 §2.3, so a query `access_token` is not looked at.
 */
export function bearerToken(request: { authorization: string | undefined; formTokens: readonly string[] }): string {
  const fromHeader = headerToken(request.authorization)
  const fromForm = formToken(request.formTokens)
  // RFC 6750 §2: clients MUST NOT use more than one method in a request.
  if (fromHeader !== undefined && fromForm !== undefined) {
    throw invalidRequest('the access token was sent by more than one method')
  }
  const token = fromHeader ?? fromForm
  if (token === undefined) throw OAuthError.noCredentials('bearer token required')
  return token
}

// RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only, so no quote,
// no backslash and nothing outside printable ASCII can break out of the quoted string.
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')}"`
}

/** The RFC 6750 §3.1 refusals, which carry a Bearer challenge: none other does (a bug, a body too large). */
export function isBearerRefusal(error: AnyOAuthError): boolean {
  switch (error.code) {
    case undefined:
      return error.status === 401
    case 'invalid_request':
      return error.status === 400
    case 'invalid_token':
      return error.status === 401
    case 'insufficient_scope':
      return error.status === 403
    default:
      return false
  }
}

/** The `WWW-Authenticate` challenge (RFC 6750 §3): no error attributes without credentials. */
export function bearerChallenge(error: AnyOAuthError, realm: string): string {
  let challenge = `Bearer realm=${quoted(realm)}`
  if (error.code !== undefined) {
    challenge += `, error=${quoted(error.code)}, error_description=${quoted(error.description)}`
  }
  if (error.scope !== undefined) challenge += `, scope=${quoted(error.scope)}`
  return challenge
}
