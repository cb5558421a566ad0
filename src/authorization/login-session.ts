import type { AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { LoginSession, LoginSessionRepository } from '../storage/login-sessions.js'

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000

export interface StartedSession {
  /** The value for the browser's cookie; only its SHA-256 is stored. */
  sessionId: string
  authTime: number
  amr: AuthMethod[]
}

export interface LoginSessions {
  /** The session a cookie value names, if it exists and has not expired. */
  find(sessionId: string | undefined): Promise<LoginSession | undefined>
  /**
   * Signs the user in, with the methods the sign-in used (RFC 8176 amr): a new session,
   * replacing the browser's previous one (no fixation). Undefined when the user was disabled or
   * removed since the password was checked.
   */
  start(userId: string, previousSessionId: string | undefined, amr: readonly AuthMethod[]): Promise<StartedSession | undefined>
  /** Signs the browser out; an unknown or expired session is fine. */
  end(sessionId: string): Promise<void>
}

export function loginSessions(deps: { sessions: LoginSessionRepository; clock: Clock }): LoginSessions {
  return {
    async find(sessionId) {
      return sessionId ? deps.sessions.findActive(sha256Hex(sessionId), deps.clock.now()) : undefined
    },
    async start(userId, previousSessionId, amr) {
      if (previousSessionId) await deps.sessions.delete(sha256Hex(previousSessionId))
      const sessionId = randomToken(32)
      const now = deps.clock.now()
      const methods = [...amr]
      const created = await deps.sessions.create({ idHash: sha256Hex(sessionId), userId, authTime: now, amr: methods, createdAt: now, expiresAt: now + SESSION_TTL_MS })
      return created ? { sessionId, authTime: now, amr: methods } : undefined
    },
    async end(sessionId) {
      if (sessionId !== '') await deps.sessions.delete(sha256Hex(sessionId))
    },
  }
}

/** What the client said about the sign-in it will accept (OIDC Core §3.1.2.1). */
export interface SignInRequirement {
  /** `max_age`: the sign-in must be at most this old. */
  maxAgeSeconds: number | undefined
  /** The `sub` of a verified `id_token_hint`: the session must be this user's. */
  hintSubject: string | undefined
}

/** Whether a sign-in made at `authTime` is still recent enough for `maxAgeSeconds`. */
export function signInIsRecent(authTime: number, maxAgeSeconds: number | null | undefined, now: number): boolean {
  return maxAgeSeconds === undefined || maxAgeSeconds === null || now - authTime <= maxAgeSeconds * 1000
}

/**
 * OIDC Core §3.1.2.1: a sign-in older than max_age must be repeated, and a session of another
 * user than the id_token_hint names does not count.
 */
export function sessionSatisfies(session: Pick<LoginSession, 'userId' | 'authTime'>, requirement: SignInRequirement, now: number): boolean {
  return signInIsRecent(session.authTime, requirement.maxAgeSeconds, now) && (requirement.hintSubject === undefined || requirement.hintSubject === session.userId)
}
