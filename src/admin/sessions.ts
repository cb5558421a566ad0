import type { LoginSessionRepository } from '../storage/login-sessions.js'
import type { UserRepository } from '../storage/users.js'
import type { Clock } from '../clock.js'
import { AdminError } from './admin-error.js'
import { iso, pageQuery, toPage, type ListInput, type Page } from './paging.js'
import { findUser, type Acting } from './users.js'

/** A signed-in browser; the cookie itself is never stored, so nothing here can resume it. */
export interface SessionView {
  created_at: string
  auth_time: string
  expires_at: string
}

/** A session names no client or device: there is nothing to search by, so a search is refused, not ignored. */
export async function listSessions(deps: { users: UserRepository; sessions: LoginSessionRepository; clock: Clock }, username: string, input: ListInput): Promise<Page<SessionView>> {
  if (input.search !== undefined) throw new AdminError('sessions list has no --search: a session names nothing to search by')
  const query = pageQuery(input)
  const user = await findUser(deps.users, username)
  const rows = await deps.sessions.listForUser(user.id, deps.clock.now(), query)
  return toPage(rows, query.pageSize, (session) => session.idHash, (session) => ({
    created_at: iso(session.createdAt),
    auth_time: iso(session.authTime),
    expires_at: iso(session.expiresAt),
  }))
}

/** Signs the user out of every browser: the next authorization asks for the password again. */
export async function revokeSessions(deps: Acting & { users: UserRepository; sessions: LoginSessionRepository }, username: string): Promise<{ ended: number }> {
  const user = await findUser(deps.users, username)
  const ended = await deps.sessions.endAllFor(user.id)
  deps.audit.record({ event: 'sessions_revoked', userId: user.id, sessions: ended, actor: deps.actor })
  return { ended }
}
