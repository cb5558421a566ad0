/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

export const USER_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'offline_access']

export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value)
}

/** Splits a scope string into distinct tokens; undefined when a token is malformed. */
export function parseScope(value: string): string[] | undefined {
  const tokens = value.split(' ').filter((t) => t !== '')
  if (!tokens.every(isScopeToken)) return undefined
  return [...new Set(tokens)]
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ')
}
