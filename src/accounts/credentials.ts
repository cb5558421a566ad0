import type { AuditLog, SignInChannel } from '../audit.js'
import type { AuthMethod } from '../oauth/auth-methods.js'
import type { User, UserRepository } from '../storage/users.js'
import type { SignInAddressLimit } from './failure-limits.js'
import type { LoginThrottle } from './login-throttle.js'
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

/**
 * The one username and password check, shared by the login page and the password grant. A
 * wrong or refused attempt is an audit event (failed, throttled, the locks a failure starts).
 * A right password is not yet a sign-in: it takes back only the address's count, and the
 * username's counts stay as they are (this attempt counted as failed) until the caller calls
 * signInSucceeded once the whole sign-in is done: at once when one factor is enough, after the
 * second factor when one is needed, when tokens are issued for the password grant. Resetting
 * the username's counts here would let anyone who knows the password wipe out the failed
 * second-factor codes before each new round of guesses.
 */
export async function checkCredentials(
  deps: { users: UserRepository; throttle: LoginThrottle; addressLimit: SignInAddressLimit; passwords: PasswordHasher; audit: AuditLog },
  /** `ip`: the caller's address, counted by the limits; `via`: where the attempt came from. */
  credentials: { username: string; password: string; ip: string; via: SignInChannel },
): Promise<CredentialCheck> {
  const { ip, via } = credentials
  // The address first: once it is over its limit no username is counted or checked.
  const address = await deps.addressLimit.start(ip)
  if (!address.allowed) {
    const { retryAfterSeconds, first } = address.refusal
    // Once per window: the refusals that follow add nothing but volume.
    if (first) deps.audit.record({ event: 'signin_throttled', limit: 'address', via, retryAfterSeconds })
    return { outcome: 'addressLimited', retryAfterSeconds }
  }
  const attempt = await deps.throttle.start(credentials.username, ip)
  if (!attempt.allowed) {
    // Refused unchecked: not a failure of this address.
    // The lock was recorded when it began (signin_locked).
    await deps.addressLimit.notFailed(ip)
    return { outcome: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds }
  }
  const user = credentials.username === '' ? undefined : await deps.users.findByUsername(credentials.username)
  // Same argon2 work whether or not the username exists, so usernames cannot be enumerated.
  const ok = await deps.passwords.verify(user?.passwordHash, credentials.password)
  // A disabled user fails as a wrong password does, after the same work: whether an account
  // exists, or is disabled, is not for the caller to learn.
  if (user && ok && user.disabledAt === null) {
    // A right password takes back only its own count: signing in to one account now and then
    // must not wipe out an address's failures on others.
    await deps.addressLimit.notFailed(ip)
    return { outcome: 'ok', user }
  }
  deps.audit.record({ event: 'signin_failed', userId: user?.id, via })
  for (const { lock, failures, lockedUntil } of attempt.lockouts) {
    deps.audit.record({ event: 'signin_locked', lock, failures, lockedUntil: new Date(lockedUntil).toISOString() })
  }
  return { outcome: 'wrong' }
}

/**
 * The whole sign-in succeeded (every factor it needed): the username's failures start again,
 * from everywhere and from this address, and the audit log says signin_succeeded with the
 * methods used.
 */
export async function signInSucceeded(
  deps: { throttle: LoginThrottle; audit: AuditLog },
  signIn: { user: Pick<User, 'id' | 'username'>; ip: string; via: SignInChannel; amr: readonly AuthMethod[] },
): Promise<void> {
  await deps.throttle.succeeded(signIn.user.username, signIn.ip)
  deps.audit.record({ event: 'signin_succeeded', userId: signIn.user.id, via: signIn.via, amr: [...signIn.amr] })
}

/** The one sign-in check, assembled once (app.ts) for the login page and the password grant. */
export interface SignInChecker {
  check(credentials: { username: string; password: string; ip: string; via: SignInChannel }, audit: AuditLog): Promise<CredentialCheck>
  /** See signInSucceeded: only once the sign-in is complete. */
  succeeded(signIn: { user: Pick<User, 'id' | 'username'>; ip: string; via: SignInChannel; amr: readonly AuthMethod[] }, audit: AuditLog): Promise<void>
}

export function signInChecker(deps: { users: UserRepository; throttle: LoginThrottle; addressLimit: SignInAddressLimit; passwords: PasswordHasher }): SignInChecker {
  return {
    check: (credentials, audit) => checkCredentials({ ...deps, audit }, credentials),
    succeeded: (signIn, audit) => signInSucceeded({ throttle: deps.throttle, audit }, signIn),
  }
}
