import { PASSWORD_ONLY, type MfaPolicy } from '../oauth/auth-methods.js'
import type { SignInChecker } from '../accounts/credentials.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { resolveAudience } from '../oauth/audience.js'
import { resolveScope } from '../oauth/scope.js'
import type { Client } from '../storage/clients.js'
import type { FactorPresenceRepository } from '../storage/factor-presence.js'
import type { TokenResponses } from '../tokens/token-response.js'
import type { GrantDefinition, GrantHandler } from './grant.js'

export interface PasswordGrantDeps {
  signIns: SignInChecker
  tokens: TokenResponses
  clock: Clock
  defaultAudience: string
  /** MFA_REQUIRED (config.mfaRequired). */
  mfaPolicy: MfaPolicy
  factors: Pick<FactorPresenceRepository, 'hasFactor'>
}

/**
 * Whether a password alone may sign this user in here: not when MFA_REQUIRED=all, not for a
 * client registered with --require-mfa, and never for a user who has a second factor (whatever
 * MFA_REQUIRED says: this grant cannot ask for it, so the password is not all of their credential).
 */
async function passwordSuffices(deps: PasswordGrantDeps, client: Client, userId: string): Promise<boolean> {
  if (deps.mfaPolicy === 'all' || client.requireMfa === true) return false
  return !(await deps.factors.hasFactor(userId))
}

/**
 * RFC 6749 §4.3, for clients registered with `--grant password` only (RFC 9700 §2.4 says not to
 * use it; it is never on by default). The credentials are checked exactly as on the login page,
 * throttle and limits included.
 */
export function passwordGrant(deps: PasswordGrantDeps): GrantHandler {
  return {
    async handle(req, client) {
      const { params, ip } = req
      const username = params.get('username')
      const password = params.get('password')
      if (username === undefined) throw new OAuthError('invalid_request', 'username is required')
      if (password === undefined) throw new OAuthError('invalid_request', 'password is required')
      // The request is checked before the credentials, so a malformed one costs no argon2
      // work and no attempt against the username.
      const scopes = resolveScope(params.get('scope'), client.scopes)
      const audience = resolveAudience(params.get('resource'), client.resources, deps.defaultAudience)

      const checked = await deps.signIns.check({ username, password, ip, via: 'password_grant' }, req.audit)
      if (checked.outcome === 'addressLimited') {
        throw OAuthError.tooManyFailures('too many failed sign-ins from this address; try again later', checked.retryAfterSeconds)
      }
      // Unknown usernames are throttled too, so neither answer reveals whether the user exists.
      if (checked.outcome === 'throttled') {
        throw new OAuthError('invalid_grant', 'too many failed sign-ins; try again later')
      }
      if (checked.outcome === 'wrong') throw new OAuthError('invalid_grant', 'wrong username or password')
      // Only after the password was verified, so the answer says nothing about a user whose
      // password the caller does not know.
      if (!(await passwordSuffices(deps, client, checked.user.id))) {
        req.audit.record({ event: 'password_grant_refused', userId: checked.user.id, clientId: client.id, reason: 'second_factor_required' })
        throw new OAuthError('invalid_grant', 'this user must sign in with a second factor, which the password grant cannot ask for; use the authorization code flow')
      }

      const issued = await deps.tokens.forUser({ client, userId: checked.user.id, scopes, audience, authTime: deps.clock.now(), amr: PASSWORD_ONLY, request: req })
      // Disabled while argon2 ran: refused as a wrong password is, revealing nothing more.
      if (issued === 'userInactive') throw new OAuthError('invalid_grant', 'wrong username or password')
      // Only now is the sign-in complete: a refused right password (a user with a second factor)
      // must not reset the failures that throttle guessing that factor.
      await deps.signIns.succeeded({ user: checked.user, ip, via: 'password_grant', amr: PASSWORD_ONLY }, req.audit)
      return issued
    },
  }
}

export const passwordDefinition: GrantDefinition = {
  type: 'password',
  // The client authenticates as well as the user: never a public client.
  confidentialOnly: true,
  parameters: ['username', 'password', 'scope', 'resource'],
  create: (deps) =>
    passwordGrant({
      signIns: deps.signIns,
      tokens: deps.tokens,
      clock: deps.clock,
      defaultAudience: deps.config.defaultAudience,
      mfaPolicy: deps.config.mfaRequired,
      factors: deps.repos.factorPresence,
    }),
}
