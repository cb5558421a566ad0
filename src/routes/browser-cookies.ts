/**
 * The cookies latchkey's own pages set: the browser id that CSRF tokens are bound to, and the
 * login session. Both hold random values; the database stores only their SHA-256.
 */
export const BROWSER_COOKIE = 'lk_browser'
export const SESSION_COOKIE = 'lk_session'
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000
export const BROWSER_COOKIE_MAX_AGE_S = 365 * 24 * 60 * 60

/** HttpOnly, SameSite=Lax, whole site; Secure on an https issuer. */
export function cookieOptions(issuer: string) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: issuer.startsWith('https:'),
    path: '/',
  }
}
