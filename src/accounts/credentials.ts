import type { SecurityLog } from '../security-log.js'
import type { User, UserRepository } from '../storage/users.js'
import type { LockKind, LoginThrottle } from './login-throttle.js'
import type { PasswordHasher } from './passwords.js'

/** `wrong` covers an unknown username and a wrong password alike. */
export type CredentialCheck = { outcome: 'ok'; user: User } | { outcome: 'wrong' } | { outcome: 'throttled' }

const LOCKOUT_MESSAGES: Record<LockKind, string> = {
  address: 'too many failed sign-ins for one username from one address; attempts from it are refused until the lockout ends',
  username: 'too many failed sign-ins for one username from all addresses; every attempt is refused until the lockout ends',
}

/** The one username and password check, shared by the login page and the password grant. */
export async function checkCredentials(
  deps: { users: UserRepository; throttle: LoginThrottle; passwords: PasswordHasher; log: SecurityLog },
  /** `ip`: the caller's address, counted by the throttle and logged. */
  credentials: { username: string; password: string; ip: string },
): Promise<CredentialCheck> {
  const attempt = await deps.throttle.start(credentials.username, credentials.ip)
  if (!attempt.allowed) return { outcome: 'throttled' }
  const user = credentials.username === '' ? undefined : await deps.users.findByUsername(credentials.username)
  // Same argon2 work whether or not the username exists, so usernames cannot be enumerated.
  const ok = await deps.passwords.verify(user?.passwordHash, credentials.password)
  if (user && ok) {
    await deps.throttle.succeeded(credentials.username, credentials.ip)
    return { outcome: 'ok', user }
  }
  for (const { lock, failures, lockedUntil } of attempt.lockouts) {
    deps.log.warn(
      { event: 'login_lockout', lock, failures, lockedUntil: new Date(lockedUntil).toISOString(), ip: credentials.ip },
      LOCKOUT_MESSAGES[lock],
    )
  }
  return { outcome: 'wrong' }
}
