import type { SecondFactors } from '../accounts/second-factors.js'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import type { GrantRepository } from '../storage/grants.js'
import type { LoginSessionRepository } from '../storage/login-sessions.js'
import type { SecondFactorRepository } from '../storage/second-factors.js'
import type { UserRepository } from '../storage/users.js'
import { AdminError } from './admin-error.js'
import { iso } from './paging.js'
import { findUser } from './users.js'

/** `user totp add`: shown once; the secret is stored sealed and the codes as hashes. */
export interface TotpAdded {
  secret: string
  otpauth_uri: string
  recovery_codes: string[]
}

/** `user mfa list`: what a user has enrolled, never a secret, key or code. */
export interface FactorsView {
  username: string
  totp: { confirmed: boolean; created_at: string; confirmed_at: string | null } | null
  passkeys: Array<{ name: string; created_at: string; last_used_at: string | null }>
  recovery_codes_left: number
}

export async function addTotp(deps: { users: UserRepository; factors: SecondFactors }, username: string): Promise<TotpAdded> {
  const user = await findUser(deps.users, username)
  const added = await deps.factors.addConfirmedTotp(user.id, user.username)
  if (added === undefined) {
    throw new AdminError(`user "${user.username}" already has an authenticator app; \`latchkey user mfa reset --username ${user.username}\` removes every factor first`, 'conflict')
  }
  return { secret: added.secret, otpauth_uri: added.otpauthUri, recovery_codes: added.recoveryCodes }
}

export async function listFactors(deps: { users: UserRepository; factors: SecondFactorRepository }, username: string): Promise<FactorsView> {
  const user = await findUser(deps.users, username)
  const [totp, passkeys, left] = await Promise.all([deps.factors.findTotp(user.id), deps.factors.listPasskeys(user.id), deps.factors.recoveryCodesLeft(user.id)])
  return {
    username: user.username,
    totp: totp === undefined ? null : { confirmed: totp.confirmedAt !== null, created_at: iso(totp.createdAt), confirmed_at: totp.confirmedAt === null ? null : iso(totp.confirmedAt) },
    passkeys: passkeys.map((p) => ({ name: p.name, created_at: iso(p.createdAt), last_used_at: p.lastUsedAt === null ? null : iso(p.lastUsedAt) })),
    recovery_codes_left: left,
  }
}

/**
 * `user mfa reset`: every factor goes (app, recovery codes, passkeys), the user's sessions end
 * and their refresh-token families are revoked (with their access tokens), so nothing signed in
 * with the old factors outlives them (a family from a two-factor sign-in would go on issuing
 * acr mfa). Consents stay. For a user who lost their device and their recovery codes; the next
 * sign-in enrols again where policy asks it.
 */
export async function resetFactors(
  deps: { users: UserRepository; factors: SecondFactors; sessions: LoginSessionRepository; grants: Pick<GrantRepository, 'revokeTokens'>; clock: Clock; audit: AuditLog; actor: string },
  username: string,
): Promise<{ removed: { totp: boolean; passkeys: number; recovery_codes: number }; sessions_ended: number; refresh_token_families_revoked: number }> {
  const user = await findUser(deps.users, username)
  const before = await deps.factors.status(user.id)
  await deps.factors.resetAll(user.id)
  const ended = await deps.sessions.endAllFor(user.id)
  deps.audit.record({ event: 'sessions_revoked', userId: user.id, sessions: ended, actor: deps.actor })
  const families = await deps.grants.revokeTokens(user.id, deps.clock.now())
  deps.audit.record({ event: 'grants_revoked', userId: user.id, consents: 0, families, actor: deps.actor })
  return {
    removed: { totp: before.totp, passkeys: before.passkeys, recovery_codes: before.recoveryCodesLeft },
    sessions_ended: ended,
    refresh_token_families_revoked: families,
  }
}
