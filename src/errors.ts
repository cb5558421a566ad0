export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'registration_not_supported'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'

const defaultStatus: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  access_denied: 403,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  request_not_supported: 400,
  request_uri_not_supported: 400,
  registration_not_supported: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  server_error: 500,
  temporarily_unavailable: 503,
  // RFC 8628 §3.5: token-endpoint errors (RFC 6749 §5.2), so 400.
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
}

/**
 * What an error page tells a person, above the code and description a developer reads. Without
 * one the page goes by the status: 403 wrong_browser, 429 too_many, 503 unavailable, other 5xx
 * server, else bad_request (on /device, device_request).
 */
export type ErrorReason =
  | 'unknown_client'
  | 'redirect_uri'
  | 'wrong_browser'
  | 'expired'
  | 'completed'
  | 'signed_out'
  | 'too_many'
  | 'unavailable'
  | 'server'
  | 'bad_request'
  /** bad_request on the device verification page, where no app sent the person. */
  | 'device_request'

/**
 * RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. Descriptions may
 * quote request input, so double quotes become single ones and anything else outside the set
 * is dropped; long echoes are cut.
 */
export function safeDescription(text: string): string {
  const cleaned = text.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}...` : cleaned
}

/** Retry-After of a 503 while the database is unreachable: a pool reconnects within seconds. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5

/** The realm of every challenge latchkey sends (RFC 7235 §2.2): Basic at /token, Bearer at /userinfo. */
export const REALM = 'latchkey'

/**
 * The one error type for protocol errors. `description` is shown to the caller;
 * `cause` reaches only the logs.
 *
 * `Code` is undefined only for `OAuthError.noCredentials()`: RFC 6750 §3.1 gives a request
 * without any credentials no error code, so `OAuthError` (a code always set) cannot be one.
 */
export class OAuthError<Code extends OAuthErrorCode | undefined = OAuthErrorCode> extends Error {
  readonly code: Code
  readonly status: number
  /** RFC 6750 §3.1: the scope a protected resource needs, sent with `insufficient_scope`. */
  readonly scope: string | undefined
  /** Sent as Retry-After (RFC 9110 §10.2.3) with a 429 or a 503. */
  readonly retryAfterSeconds: number | undefined
  /** What an error page says to a person (see ErrorReason). */
  readonly reason: ErrorReason | undefined

  constructor(
    code: Code,
    description: string,
    options: { status?: number; cause?: unknown; scope?: string; retryAfterSeconds?: number; reason?: ErrorReason } = {},
  ) {
    super(safeDescription(description), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OAuthError'
    this.code = code
    this.status = options.status ?? (code === undefined ? 401 : defaultStatus[code as OAuthErrorCode])
    this.scope = options.scope
    this.retryAfterSeconds = options.retryAfterSeconds
    this.reason = options.reason
  }

  get description(): string {
    return this.message
  }

  /** RFC 6749 §5.2: 401 with a WWW-Authenticate challenge, rendered by the error handler. */
  static invalidClient(description: string): OAuthError {
    return new OAuthError('invalid_client', description, { status: 401 })
  }

  /**
   * A limit on failures refused the request: 429 (RFC 6585 §4) with Retry-After. RFC 6749 has
   * no code for it; `invalid_request` is the closest, the description says what happened.
   */
  static tooManyFailures(description: string, retryAfterSeconds: number): OAuthError {
    return new OAuthError('invalid_request', description, { status: 429, retryAfterSeconds })
  }

  /**
   * The database cannot be reached or cannot answer now: 503 `temporarily_unavailable` (RFC
   * 6749 §4.1.2.1; at /token too) with Retry-After. The driver's error is the log-only cause.
   */
  static temporarilyUnavailable(cause: unknown): OAuthError {
    return new OAuthError('temporarily_unavailable', 'the service is temporarily unavailable; try again shortly', {
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
      cause,
    })
  }

  /** A body of a media type the endpoint does not take: 415, in the endpoint's error format. */
  static unsupportedContentType(): OAuthError {
    return new OAuthError('invalid_request', 'unsupported content type', { status: 415 })
  }

  /** RFC 6750 §3.1: no bearer credentials at all: 401, a bare challenge, no error code. */
  static noCredentials(description: string): OAuthError<undefined> {
    return new OAuthError(undefined, description, { status: 401 })
  }

  /** RFC 6750 §3.1: a valid token without the `scope` the resource needs. */
  static insufficientScope(scope: string): OAuthError {
    return new OAuthError('insufficient_scope', `token lacks scope: ${scope}`, { scope })
  }
}

/** Any OAuthError, the code-less RFC 6750 one included: what the error handler renders. */
export type AnyOAuthError = OAuthError<OAuthErrorCode | undefined>

/**
 * An /authorize error that goes back to the client by redirect. Thrown only once the client
 * and its redirect URI are verified (RFC 6749 §4.1.2.1), and for a self-registered client only
 * after the user answered the consent page; any other OAuthError thrown at /authorize is shown
 * on an error page and never redirects.
 */
export class AuthorizationRedirectError extends OAuthError {
  readonly redirectUri: string
  readonly state: string | undefined

  constructor(code: OAuthErrorCode, description: string, target: { redirectUri: string; state: string | undefined }) {
    super(code, description)
    this.name = 'AuthorizationRedirectError'
    this.redirectUri = target.redirectUri
    this.state = target.state
  }
}
