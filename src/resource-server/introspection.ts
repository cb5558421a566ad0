import { BearerError } from './errors.js'
import { fetchJson } from './metadata.js'

export interface IntrospectionOptions {
  clientId: string
  clientSecret: string
  /** Default: the issuer metadata's `introspection_endpoint`, else `${issuer}/introspect`. */
  endpoint?: string
}

// RFC 6749 §2.3.1: client_id and secret are application/x-www-form-urlencoded before Basic.
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

/**
 * Asks the issuer whether a token that passed local verification is still active (RFC 7662),
 * which catches revoked tokens. One POST per call: nothing is cached, so a revocation is seen
 * at once.
 */
export function createIntrospector(
  options: IntrospectionOptions,
  endpoint: () => string,
  timeoutMs: number,
): (token: string) => Promise<void> {
  const credentials = Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')
  return async (token) => {
    let answer: unknown
    try {
      answer = await fetchJson(endpoint(), timeoutMs, {
        method: 'POST',
        headers: {
          authorization: `Basic ${credentials}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      })
    } catch (error) {
      // Unreachable, refused our credentials or answered garbage: not the token's fault.
      throw BearerError.unavailable('token introspection is unavailable', error)
    }
    // RFC 7662 §2.2: anything but `"active": true` means the token must not be accepted.
    if ((answer as { active?: unknown } | null)?.active !== true) {
      throw BearerError.invalidToken('token is not active (revoked)')
    }
  }
}
