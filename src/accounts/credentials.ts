import type { SecurityLog } from '../security-log.js'
import type { User, UserRepository } from '../storage/users.js'
import type { SignInAddressLimit } from './failure-limits.js'
import type { LockKind, LoginThrottle } from './login-throttle.js'
import type { PasswordHasher } from './passwords.js'

/**
 * `wrong` covers an unknown username and a wrong password alike; `throttled`: the username is
 * locked (from this address or from all); `addressLimited`: this address has failed too often,
 * whatever the username. Refused attempts carry the seconds until they may succeed.
 */
export type CredentialCheck =
  | { outcome: 'ok'; user: User }
  | { outcome: 'wrong' }
  | { outcome: 'throttled'; retryAfterSeconds: number }
  | { outcome: 'addressLimited'; retryAfterSeconds: number }

const LOCKOUT_MESSAGES: Record<LockKind, string> = {
  address: 'too many failed sign-ins for one username from one address; attempts from it are refused until the lockout ends',
  username: 'too many failed sign-ins for one username from all addresses; every attempt is refused until the lockout ends',
}

/** The one username and password check, shared by the login page and the password grant. */
export async function checkCredentials(
  deps: { users: UserRepository; throttle: LoginThrottle; addressLimit: SignInAddressLimit; passwords: PasswordHasher; log: SecurityLog },
  /** `ip`: the caller's address, counted by the limits and logged. */
  credentials: { username: string; password: string; ip: string },
): Promise<CredentialCheck> {
  const { ip } = credentials
  // The address first: once it is over its limit no username is counted or checked.
  const address = await deps.addressLimit.start({ ip, log: deps.log })
  if (!address.allowed) return { outcome: 'addressLimited', retryAfterSeconds: address.refusal.retryAfterSeconds }
  const attempt = await deps.throttle.start(credentials.username, ip)
  if (!attempt.allowed) {
    // Refused unchecked: not a failure of this address.
    await deps.addressLimit.notFailed(ip)
    return { outcome: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds }
  }
  const user = credentials.username === '' ? undefined : await deps.users.findByUsername(credentials.username)
  // Same argon2 work whether or not the username exists, so usernames cannot be enumerated.
  const ok = await deps.passwords.verify(user?.passwordHash, credentials.password)
  if (user && ok) {
    // A success takes back only its own count: signing in to one account now and then must
    // not wipe out an address's failures on others.
    await deps.addressLimit.notFailed(ip)
    await deps.throttle.succeeded(credentials.username, ip)
    return { outcome: 'ok', user }
  }
  for (const { lock, failures, lockedUntil } of attempt.lockouts) {
    deps.log.warn({ event: 'login_lockout', lock, failures, lockedUntil: new Date(lockedUntil).toISOString(), ip }, LOCKOUT_MESSAGES[lock])
  }
  return { outcome: 'wrong' }
}
