/** The error codes of RFC 6750 §3.1. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/**
 * Why a request to an endpoint latchkey protects with its own access tokens (/userinfo) was
 * refused. Not an OAuthError: RFC 6750 answers carry a `WWW-Authenticate` challenge, and a
 * request with no bearer credentials at all gets no error code (§3.1). src/resource-server/ has
 * its own copy of this, as it imports nothing from the rest of src/.
 */
export class BearerError extends Error {
  readonly status: 400 | 401 | 403
  readonly code: BearerErrorCode | undefined
  readonly description: string
  /** The scopes the request needed, for `insufficient_scope`. */
  readonly scope: string | undefined

  constructor(status: 400 | 401 | 403, code: BearerErrorCode | undefined, description: string, scope?: string) {
    super(description)
    this.name = 'BearerError'
    this.status = status
    this.code = code
    this.description = description
    this.scope = scope
  }

  static missing(): BearerError {
    return new BearerError(401, undefined, 'bearer token required')
  }

  static invalidRequest(description: string): BearerError {
    return new BearerError(400, 'invalid_request', description)
  }

  static invalidToken(description: string): BearerError {
    return new BearerError(401, 'invalid_token', description)
  }

  static insufficientScope(scope: string): BearerError {
    return new BearerError(403, 'insufficient_scope', `token lacks scope: ${scope}`, scope)
  }
}

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
  if (credentials === '') throw BearerError.invalidRequest('bearer token is missing')
  if (/\s/.test(credentials)) throw BearerError.invalidRequest('only one bearer token is allowed')
  if (!B64TOKEN.test(credentials)) throw BearerError.invalidRequest('bearer token has invalid characters')
  return credentials
}

/** The `access_token` form parameter (RFC 6750 §2.2); empty values count as absent. */
function formToken(values: readonly string[]): string | undefined {
  const present = values.filter((value) => value !== '')
  if (present.length > 1) throw BearerError.invalidRequest('parameter access_token was sent more than once')
  const token = present[0]
  if (token !== undefined && !B64TOKEN.test(token)) throw BearerError.invalidRequest('access_token has invalid characters')
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
    throw BearerError.invalidRequest('the access token was sent by more than one method')
  }
  const token = fromHeader ?? fromForm
  if (token === undefined) throw BearerError.missing()
  return token
}

// RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only, so no quote,
// no backslash and nothing outside printable ASCII can break out of the quoted string.
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')}"`
}

/** The `WWW-Authenticate` challenge (RFC 6750 §3): no error attributes without credentials. */
export function bearerChallenge(error: BearerError, realm: string): string {
  let challenge = `Bearer realm=${quoted(realm)}`
  if (error.code !== undefined) {
    challenge += `, error=${quoted(error.code)}, error_description=${quoted(error.description)}`
  }
  if (error.scope !== undefined) challenge += `, scope=${quoted(error.scope)}`
  return challenge
}

/** The JSON body: `error` is left out when the challenge names none. */
export function bearerErrorBody(error: BearerError): { error?: BearerErrorCode; error_description: string } {
  return error.code === undefined
    ? { error_description: error.description }
    : { error: error.code, error_description: error.description }
}
