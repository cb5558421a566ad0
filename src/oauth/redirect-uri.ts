/** Redirect URI rules: registration (RFC 8252, OAuth 2.1 §2.3) and matching (RFC 9700 §4.1.3). */

const LOOPBACK_LITERAL = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::\d{1,5})?(?=[/?]|$)/

/** Why a URI cannot be registered, or undefined when it can. */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return 'is not an absolute URI'
  }
  // OAuth 2.1 §2.3: no fragment. Checked on the raw text: "a#" parses to an empty hash.
  if (uri.includes('#')) return 'must not contain a fragment'
  if (url.username !== '' || url.password !== '') return 'must not contain user information'
  // Matching is exact, so a `*` would never match anything: say so rather than store a URI that
  // looks like a wildcard (BCP §4.1.3: no pattern matching).
  if (url.hostname.includes('*')) return 'must not contain a wildcard (redirect URIs match exactly)'
  const scheme = url.protocol.slice(0, -1)
  if (scheme === 'https') return url.hostname === '' ? 'has no host' : undefined
  if (scheme === 'http') {
    // BCP §2.6: http only for loopback (RFC 8252 §7.3), and localhost matched as a name.
    return ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
      ? undefined
      : 'must use https (http is allowed only on 127.0.0.1, [::1] or localhost)'
  }
  // RFC 8252 §7.1: private-use schemes in reverse-domain form, so they contain a dot.
  if (scheme.includes('.')) return undefined
  return `uses a refused scheme "${scheme}:"`
}

/**
 * Exact string comparison (RFC 3986 §6.2.1). The one exception, for public clients only:
 * a loopback IP-literal URI may differ in its port (RFC 8252 §7.3).
 */
export function redirectUriMatches(registered: readonly string[], requested: string, isPublic: boolean): boolean {
  if (registered.includes(requested)) return true
  if (!isPublic) return false
  const portless = withoutLoopbackPort(requested)
  if (portless === undefined) return false
  return registered.some((uri) => withoutLoopbackPort(uri) === portless)
}

function withoutLoopbackPort(uri: string): string | undefined {
  const match = LOOPBACK_LITERAL.exec(uri)
  if (!match) return undefined
  // The port must be one a URL can carry (1-65535), or redirecting to it would fail later.
  try {
    new URL(uri)
  } catch {
    return undefined
  }
  return `http://${match[1]}${uri.slice(match[0].length)}`
}
