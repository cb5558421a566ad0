/** The error codes of RFC 6750 §3.1, plus the one this module adds when it cannot check a token. */
export type BearerErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  // Not an RFC 6750 code: the issuer's keys (or its introspection endpoint) are unreachable,
  // so the token can be neither accepted nor blamed (RFC 6749 §4.1.2.1 uses the same word).
  | 'temporarily_unavailable'

/**
 * Why a request or a token was refused. `code` is undefined when the request carried no bearer
 * credentials at all: RFC 6750 §3.1 says the challenge then SHOULD NOT name an error.
 * `cause` is for logs only; it never holds the token.
 */
export class BearerError extends Error {
  readonly status: 400 | 401 | 403 | 503
  readonly code: BearerErrorCode | undefined
  readonly description: string
  /** The scopes the request needed, for `insufficient_scope`. */
  readonly scope: string | undefined

  constructor(
    status: 400 | 401 | 403 | 503,
    code: BearerErrorCode | undefined,
    description: string,
    options: { scope?: string; cause?: unknown } = {},
  ) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BearerError'
    this.status = status
    this.code = code
    this.description = description
    this.scope = options.scope
  }

  static missing(): BearerError {
    return new BearerError(401, undefined, 'bearer token required')
  }

  static invalidRequest(description: string): BearerError {
    return new BearerError(400, 'invalid_request', description)
  }

  static invalidToken(description: string, cause?: unknown): BearerError {
    return new BearerError(401, 'invalid_token', description, { cause })
  }

  static insufficientScope(scopes: readonly string[]): BearerError {
    const scope = scopes.join(' ')
    return new BearerError(403, 'insufficient_scope', `token lacks scope: ${scope}`, { scope })
  }

  static unavailable(description: string, cause?: unknown): BearerError {
    return new BearerError(503, 'temporarily_unavailable', description, { cause })
  }
}

// RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only, so no quote,
// no backslash and nothing outside printable ASCII can break out of the quoted string.
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')}"`
}

/**
 * The `WWW-Authenticate` challenge for a 400, 401 or 403 (RFC 6750 §3); none for a 503.
 * `resourceMetadata`: the URL of the RFC 9728 metadata, named in every challenge (§5.1).
 */
export function challengeFor(error: BearerError, realm: string, resourceMetadata?: string): string | undefined {
  if (error.status === 503) return undefined
  let challenge = `Bearer realm=${quoted(realm)}`
  if (error.code !== undefined) {
    challenge += `, error=${quoted(error.code)}, error_description=${quoted(error.description)}`
  }
  if (error.scope !== undefined) challenge += `, scope=${quoted(error.scope)}`
  if (resourceMetadata !== undefined) challenge += `, resource_metadata=${quoted(resourceMetadata)}`
  return challenge
}

export interface BearerErrorBody {
  error?: BearerErrorCode
  error_description: string
}

/** The JSON body: `error` is left out when the challenge names none (no credentials sent). */
export function bodyFor(error: BearerError): BearerErrorBody {
  return error.code === undefined
    ? { error_description: error.description }
    : { error: error.code, error_description: error.description }
}
