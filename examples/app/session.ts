import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** What the app keeps per browser. The browser itself gets only the random session id. */
export interface Session {
  id: string
  /** Sent back by every form of the app: a form posted from another site lacks it. */
  csrf: string
  lastSeen: number
  /** Between /login and /callback: the PKCE verifier, state and nonce of that sign-in. */
  pending?: { codeVerifier: string; state: string; nonce: string } | undefined
  tokens?: { accessToken: string; refreshToken?: string | undefined; idToken?: string | undefined; expiresAt: number; scope: string } | undefined
  claims?: Record<string, unknown> & { sub?: string } | undefined
  userinfo?: Record<string, unknown> | undefined
  apiResult?: string | undefined
  notice?: string | undefined
  /** The state sent to latchkey's /logout, to recognise the way back. */
  logoutState?: string | undefined
}

const COOKIE = 'example_session'
const IDLE_MS = 8 * 60 * 60 * 1000
const MAX_SESSIONS = 10_000
// In memory: a restart signs everyone out. A real app keeps sessions in its store (Redis, SQL).
const sessions = new Map<string, Session>()

const random = (): string => randomBytes(32).toString('base64url')

export function newSession(): Session {
  // Bounded: every cookie-less request starts one. A Map iterates oldest first.
  if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string)
  const session: Session = { id: random(), csrf: random(), lastSeen: Date.now() }
  sessions.set(session.id, session)
  return session
}

/**
 * A new id and CSRF token for the same session, the old id forgotten: done whenever the user
 * signs in or out, so an id planted in the browser before sign-in (session fixation) never
 * becomes a signed-in session.
 */
export function renewSession(session: Session): Session {
  sessions.delete(session.id)
  const renewed: Session = { ...session, id: random(), csrf: random(), lastSeen: Date.now() }
  sessions.set(renewed.id, renewed)
  return renewed
}

export function readSession(req: IncomingMessage): Session | undefined {
  const now = Date.now()
  for (const [id, session] of sessions) if (now - session.lastSeen > IDLE_MS) sessions.delete(id)
  const id = (req.headers.cookie ?? '')
    .split(';')
    .map((part) => part.trim().split('='))
    .find(([name]) => name === COOKIE)?.[1]
  const session = id === undefined ? undefined : sessions.get(id)
  if (session) session.lastSeen = now
  return session
}

/** HttpOnly: no script reads it. SameSite=Lax: sent on latchkey's redirect back, not on cross-site posts. */
export function sessionCookie(session: Session, appUrl: string): string {
  return `${COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Lax${appUrl.startsWith('https:') ? '; Secure' : ''}`
}

export function checkCsrf(session: Session, presented: string | null): boolean {
  const expected = Buffer.from(session.csrf)
  const actual = Buffer.from(presented ?? '')
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
