import type { FastifyRequest } from 'fastify'
import type { LoginSessions } from '../../authorization/login-session.js'
import type { Clock } from '../../clock.js'
import { ACR_MFA, ACR_PWD, meetsAcr, type MfaPolicy } from '../../oauth/auth-methods.js'
import { secretMatchesHash, sha256Hex } from '../../oauth/secrets.js'
import type { FactorPresenceRepository } from '../../storage/factor-presence.js'
import type { LoginSession } from '../../storage/login-sessions.js'
import type { BrowserCookies } from '../browser-cookies.js'

/** Managing one's factors is sensitive: it needs a sign-in at most this old. */
export const ACCOUNT_SIGN_IN_MAX_AGE_MS = 15 * 60_000

/**
 * The CSRF token of the account page's forms: derived from the session cookie, so it needs no
 * storage, and a form from another browser (without the cookie) cannot carry it.
 */
export function accountCsrfToken(sessionId: string): string {
  return sha256Hex(`account-csrf:${sessionId}`)
}

/** Constant time: the presented token's hash against the one derived from the cookie. */
export function accountCsrfMatches(sessionId: string, presented: string | undefined): boolean {
  return presented !== undefined && secretMatchesHash(presented, sha256Hex(accountCsrfToken(sessionId)))
}

/**
 * The browser's login session, if it may manage the account: signed in within
 * ACCOUNT_SIGN_IN_MAX_AGE_MS, and with a second factor when the account has one or
 * MFA_REQUIRED=all (a password alone must not add or remove a factor beside an existing one).
 */
export async function recentSession(
  deps: { sessions: LoginSessions; cookies: BrowserCookies; clock: Clock; policy: MfaPolicy; factors: Pick<FactorPresenceRepository, 'hasFactor'> },
  request: FastifyRequest,
): Promise<{ session: LoginSession; sessionId: string } | undefined> {
  const sessionId = deps.cookies.sessionId(request)
  const session = await deps.sessions.find(sessionId)
  if (sessionId === undefined || session === undefined) return undefined
  if (deps.clock.now() - session.authTime > ACCOUNT_SIGN_IN_MAX_AGE_MS) return undefined
  const required = deps.policy === 'all' || (await deps.factors.hasFactor(session.userId)) ? ACR_MFA : ACR_PWD
  return meetsAcr(session.amr, required) ? { session, sessionId } : undefined
}
