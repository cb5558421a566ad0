import { OAuthError } from '../errors.js'

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

export const USER_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'offline_access']

export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value)
}

/** Splits a scope string into distinct tokens; undefined when malformed or (RFC 6749 §3.3) empty. */
export function parseScope(value: string): string[] | undefined {
  const tokens = value.split(' ').filter((t) => t !== '')
  if (tokens.length === 0 || !tokens.every(isScopeToken)) return undefined
  return [...new Set(tokens)]
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ')
}

/**
 * The scopes a request is granted (RFC 6749 §3.3): none requested means the client's registered
 * scopes, less `withheld`; a malformed scope, one outside the registered ones, or a withheld
 * one is invalid_scope.
 */
export function resolveScope(
  requested: string | undefined,
  registered: readonly string[],
  withheld: readonly string[] = [],
): string[] {
  if (requested === undefined) return registered.filter((name) => !withheld.includes(name))
  const names = parseScope(requested)
  if (names === undefined) throw new OAuthError('invalid_scope', 'scope is malformed')
  const notAllowed = names.filter((name) => !registered.includes(name))
  if (notAllowed.length > 0) throw new OAuthError('invalid_scope', `scope not allowed for this client: ${notAllowed.join(' ')}`)
  const refused = names.filter((name) => withheld.includes(name))
  if (refused.length > 0) throw new OAuthError('invalid_scope', `scope not available with this grant: ${refused.join(' ')}`)
  return names
}
