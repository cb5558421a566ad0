import type { AuditLog } from '../audit.js'
import type { SignInAddressLimit } from './failure-limits.js'
import type { LoginThrottle } from './login-throttle.js'
import type { SecondFactors } from './second-factors.js'

/** An authenticator-app code, or a recovery code typed instead. */
export type SecondFactorCode = { kind: 'totp'; code: string } | { kind: 'recovery'; code: string }

/** `ok` with a recovery code says how many are left, for the page to tell the user. */
export type SecondFactorCheck =
  | { outcome: 'ok'; recoveryCodesLeft?: number }
  | { outcome: 'wrong' }
  | { outcome: 'throttled'; retryAfterSeconds: number }
  | { outcome: 'addressLimited'; retryAfterSeconds: number }

/** What the login page and the password grant share for throttling, reused for second factors. */
export interface SignInLimits {
  throttle: LoginThrottle
  addressLimit: SignInAddressLimit
}

/**
 * A second-factor code, checked under the same limits as a password (RFC 6238 §5.2: attempts
 * are throttled): the per-address failure limit, then the lock on the username from this address
 * and from everywhere. A locked username is refused before the code is looked at; a wrong code
 * is a failure of both counts (audit mfa_failed, plus signin_locked when it starts a lock); a
 * right one stays counted on the username until the caller calls signInSucceeded.
 * `secondFactors` is the request's (built with its audit log).
 */
export async function checkSecondFactor(
  deps: SignInLimits & { secondFactors: SecondFactors; audit: AuditLog },
  input: { userId: string; username: string; ip: string; code: SecondFactorCode },
): Promise<SecondFactorCheck> {
  const { userId, username, ip, code } = input
  const address = await deps.addressLimit.start(ip)
  if (!address.allowed) {
    const { retryAfterSeconds, first } = address.refusal
    if (first) deps.audit.record({ event: 'signin_throttled', limit: 'address', via: 'login_page', retryAfterSeconds })
    return { outcome: 'addressLimited', retryAfterSeconds }
  }
  const attempt = await deps.throttle.start(username, ip)
  if (!attempt.allowed) {
    await deps.addressLimit.notFailed(ip)
    return { outcome: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds }
  }
  // Codes are short: anything longer than a recovery code with spaces is wrong unread.
  const typed = code.code.slice(0, 64)
  const ok = code.kind === 'totp' ? await deps.secondFactors.verifyTotp(userId, typed) : await deps.secondFactors.useRecoveryCode(userId, typed)
  if (ok) {
    // Not a failure of this address. The username's counts start again when the caller has
    // completed the sign-in (signInSucceeded), not here.
    await deps.addressLimit.notFailed(ip)
    if (code.kind === 'totp') return { outcome: 'ok' }
    // SecondFactors records recovery_code_used itself; the page says how many are left.
    return { outcome: 'ok', recoveryCodesLeft: (await deps.secondFactors.status(userId)).recoveryCodesLeft }
  }
  deps.audit.record({ event: 'mfa_failed', userId, method: code.kind === 'totp' ? 'totp' : 'recovery_code' })
  for (const { lock, failures, lockedUntil } of attempt.lockouts) {
    deps.audit.record({ event: 'signin_locked', lock, failures, lockedUntil: new Date(lockedUntil).toISOString() })
  }
  return { outcome: 'wrong' }
}
