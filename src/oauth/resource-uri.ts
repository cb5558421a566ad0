/**
 * RFC 8707 §2: a resource (an access token's audience) is an absolute URI (RFC 3986 §4.3)
 * without a fragment. RFC 3986 allows no spaces or control characters, which WHATWG URL parsing
 * would otherwise strip or percent-encode, so they are refused before parsing. The one rule for
 * `resource` at /authorize and /token, DEFAULT_AUDIENCE and `client add --audience`.
 */
export function isResourceUri(value: string): boolean {
  if (value.includes('#') || /[\x00-\x20\x7f]/.test(value)) return false
  try {
    new URL(value)
    return true
  } catch {
    return false
  }
}

/** What `isResourceUri` requires, for error messages. */
export const RESOURCE_URI_RULE = 'an absolute URI without a fragment, spaces or control characters'
