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
  | 'invalid_token'
  | 'insufficient_scope'
  | 'server_error'
  | 'temporarily_unavailable'

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
  invalid_token: 401,
  insufficient_scope: 403,
  server_error: 500,
  temporarily_unavailable: 503,
}

/**
 * RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. Descriptions may
 * quote request input, so double quotes become single ones and anything else outside the set
 * is dropped; long echoes are cut.
 */
export function safeDescription(text: string): string {
  const cleaned = text.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}...` : cleaned
}

/**
 * The one error type for protocol errors. `description` is shown to the caller;
 * `cause` reaches only the logs.
 */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode
  readonly status: number

  constructor(code: OAuthErrorCode, description: string, options: { status?: number; cause?: unknown } = {}) {
    super(safeDescription(description), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OAuthError'
    this.code = code
    this.status = options.status ?? defaultStatus[code]
  }

  get description(): string {
    return this.message
  }

  /** RFC 6749 §5.2: 401 with a WWW-Authenticate challenge, rendered by the error handler. */
  static invalidClient(description: string): OAuthError {
    return new OAuthError('invalid_client', description, { status: 401 })
  }
}

/**
 * An /authorize error that goes back to the client by redirect. Thrown only once the client
 * and its redirect URI are verified (RFC 6749 §4.1.2.1); any other OAuthError thrown at
 * /authorize is shown on an error page and never redirects.
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
