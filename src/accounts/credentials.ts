import type { User, UserRepository } from '../storage/users.js'
import type { LoginThrottle } from './login-throttle.js'
import { verifyPassword } from './passwords.js'

/** Where security events go (a request's logger); never given secrets. */
export interface SecurityLog {
  warn(details: Record<string, unknown>, message: string): void
}

/** `wrong` covers an unknown username and a wrong password alike. */
export type CredentialCheck = { outcome: 'ok'; user: User } | { outcome: 'wrong' } | { outcome: 'throttled' }

/** The one username and password check, shared by the login page and the password grant. */
export async function checkCredentials(
  deps: { users: UserRepository; throttle: LoginThrottle; log: SecurityLog },
  /** `ip` (the caller's address) goes only to the security log. */
  credentials: { username: string; password: string; ip: string },
): Promise<CredentialCheck> {
  const attempt = await deps.throttle.start(credentials.username)
  if (!attempt.allowed) return { outcome: 'throttled' }
  const user = credentials.username === '' ? undefined : await deps.users.findByUsername(credentials.username)
  // Same argon2 work whether or not the username exists, so usernames cannot be enumerated.
  const ok = await verifyPassword(user?.passwordHash, credentials.password)
  if (user && ok) {
    await deps.throttle.succeeded(credentials.username)
    return { outcome: 'ok', user }
  }
  if (attempt.lockedUntil !== null) {
    deps.log.warn(
      { event: 'login_lockout', failures: attempt.failures, lockedUntil: new Date(attempt.lockedUntil).toISOString(), ip: credentials.ip },
      'too many failed sign-ins for one username; further attempts are refused until the lockout ends',
    )
  }
  return { outcome: 'wrong' }
}
