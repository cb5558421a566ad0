import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { LoginSessions } from '../../authorization/login-session.js'
import type { Clock } from '../../clock.js'
import type { LoginSession } from '../../storage/login-sessions.js'
import type { BrowserCookies } from '../browser-cookies.js'

/** Managing one's factors is sensitive: it needs a sign-in at most this old. */
export const ACCOUNT_SIGN_IN_MAX_AGE_MS = 15 * 60_000

/**
 * The CSRF token of the account page's forms: derived from the session cookie, so it needs no
 * storage, and a form from another browser (without the cookie) cannot carry it.
 */
export function accountCsrfToken(sessionId: string): string {
  return createHash('sha256').update(`account-csrf:${sessionId}`).digest('base64url')
}

export function accountCsrfMatches(sessionId: string, presented: string | undefined): boolean {
  if (presented === undefined) return false
  const expected = Buffer.from(accountCsrfToken(sessionId))
  const given = Buffer.from(presented)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** The browser's login session, if it is recent enough for the account page. */
export async function recentSession(
  deps: { sessions: LoginSessions; cookies: BrowserCookies; clock: Clock },
  request: FastifyRequest,
): Promise<{ session: LoginSession; sessionId: string } | undefined> {
  const sessionId = deps.cookies.sessionId(request)
  const session = await deps.sessions.find(sessionId)
  if (sessionId === undefined || session === undefined) return undefined
  if (deps.clock.now() - session.authTime > ACCOUNT_SIGN_IN_MAX_AGE_MS) return undefined
  return { session, sessionId }
}
