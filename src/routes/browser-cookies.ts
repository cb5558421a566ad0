import type { FastifyReply, FastifyRequest } from 'fastify'
import { SESSION_TTL_MS } from '../authorization/login-session.js'
import { randomToken } from '../oauth/secrets.js'

/**
 * The cookies latchkey's own pages set: the browser id that CSRF tokens are bound to, and the
 * login session. Both hold random values; the database stores only their SHA-256.
 */
export const BROWSER_COOKIE = 'lk_browser'
export const SESSION_COOKIE = 'lk_session'
export const BROWSER_COOKIE_MAX_AGE_S = 365 * 24 * 60 * 60

/** A browser id as set below: 32 random bytes, base64url. */
const BROWSER_ID = /^[A-Za-z0-9_-]{43}$/

/** HttpOnly, SameSite=Lax, whole site; Secure on an https issuer. */
function cookieOptions(issuer: string) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: issuer.startsWith('https:'),
    path: '/',
  }
}

export interface BrowserCookies {
  /** This browser's id, from its cookie; a new one is set when it has none (or a malformed one). */
  browserId(request: FastifyRequest, reply: FastifyReply): string
  /** The browser's id only if it already has a well-formed one (for checking a form post). */
  existingBrowserId(request: FastifyRequest): string | undefined
  /** The login session cookie's value, if any. */
  sessionId(request: FastifyRequest): string | undefined
  setSession(reply: FastifyReply, sessionId: string): void
  clearSession(reply: FastifyReply): void
}

export function browserCookies(deps: { issuer: string }): BrowserCookies {
  const options = cookieOptions(deps.issuer)
  const existingBrowserId = (request: FastifyRequest) => {
    const value = request.cookies[BROWSER_COOKIE]
    return value !== undefined && BROWSER_ID.test(value) ? value : undefined
  }
  return {
    existingBrowserId,
    browserId(request, reply) {
      const existing = existingBrowserId(request)
      if (existing) return existing
      const value = randomToken(32)
      reply.setCookie(BROWSER_COOKIE, value, { ...options, maxAge: BROWSER_COOKIE_MAX_AGE_S })
      return value
    },
    sessionId(request) {
      return request.cookies[SESSION_COOKIE]
    },
    setSession(reply, sessionId) {
      reply.setCookie(SESSION_COOKIE, sessionId, { ...options, maxAge: SESSION_TTL_MS / 1000 })
    },
    clearSession(reply) {
      reply.clearCookie(SESSION_COOKIE, options)
    },
  }
}

/**
 * OIDC Core §3.1.2.1 and RP-Initiated Logout §2 allow POST: answer with a 303 to the same-site
 * GET carrying the same parameters, before any session is read, so the SameSite=Lax cookies
 * are sent with the request that reads them.
 */
export function redirectPostToGet(path: string, body: unknown, reply: FastifyReply): FastifyReply {
  const query = new URLSearchParams()
  if (body !== null && typeof body === 'object') {
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') query.append(name, v)
    }
  }
  return reply.redirect(`${path}?${query.toString()}`, 303)
}
