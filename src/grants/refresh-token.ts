import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { parseScope } from '../oauth/scope.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { RefreshTokenFamily, RefreshTokenRepository } from '../storage/refresh-tokens.js'
import type { TokenResponses } from '../tokens/token-response.js'
import type { GrantDefinition, GrantHandler, TokenRequest } from './grant.js'
import { SIGN_IN_TOO_WEAK, stillMeetsRequirement, type SignInRecheck } from './sign-in-recheck.js'

export interface RefreshTokenGrantDeps {
  refreshTokens: RefreshTokenRepository
  tokens: TokenResponses
  clock: Clock
  requirements: SignInRecheck
}

/** RFC 6749 §6: a requested scope may narrow the new access token, never widen the family's. */
function narrowedScope(requested: string | undefined, family: RefreshTokenFamily): string[] {
  if (requested === undefined) return family.scopes
  const scopes = parseScope(requested)
  if (scopes === undefined) throw new OAuthError('invalid_scope', 'scope is malformed')
  const beyond = scopes.filter((scope) => !family.scopes.includes(scope))
  if (beyond.length > 0) throw new OAuthError('invalid_scope', `scope exceeds the original grant: ${beyond.join(' ')}`)
  return scopes
}

/**
 * RFC 9700 §4.14.2: a refresh token that was already rotated was stolen or replayed; revoke
 * the whole family, its newest token and access tokens included, and say so in the log.
 */
async function revokeOnReuse(deps: RefreshTokenGrantDeps, req: TokenRequest, family: RefreshTokenFamily): Promise<never> {
  const revoked = await deps.refreshTokens.revokeFamily(family.id, deps.clock.now())
  req.audit.record({ event: 'refresh_token_reuse', familyId: family.id, clientId: family.clientId, userId: family.userId, familyRevoked: revoked })
  throw new OAuthError('invalid_grant', 'the refresh token has already been used')
}

/**
 * The family's sign-in no longer meets what the client requires (--require-mfa set since,
 * MFA_REQUIRED=all, a second factor enrolled): the family is revoked, so it yields nothing more,
 * and the user signs in again, with the second factor.
 */
async function revokeTooWeak(deps: RefreshTokenGrantDeps, req: TokenRequest, family: RefreshTokenFamily, userId: string): Promise<never> {
  await deps.refreshTokens.revokeFamily(family.id, deps.clock.now())
  req.audit.record({ event: 'grant_refused', userId, clientId: family.clientId, grant: req.grantType, reason: 'second_factor_required', familyId: family.id })
  throw new OAuthError('invalid_grant', SIGN_IN_TOO_WEAK)
}

export function refreshTokenGrant(deps: RefreshTokenGrantDeps): GrantHandler {
  return {
    async handle(req, client) {
      const { params } = req
      const value = params.get('refresh_token')
      if (value === undefined) throw new OAuthError('invalid_request', 'refresh_token is required')
      const presentedHash = sha256Hex(value)
      const found = await deps.refreshTokens.findWithFamily(presentedHash)
      if (!found) throw new OAuthError('invalid_grant', 'unknown refresh token')
      const { token, family } = found
      // OAuth 2.1 §4.3.1: the token is bound to its client. Another client presenting it
      // revokes nothing: it proves no theft by the owner's side, and must not be a DoS lever.
      if (family.clientId !== client.id) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client')
      if (family.revokedAt !== null) throw new OAuthError('invalid_grant', 'the refresh token has been revoked')
      const now = deps.clock.now()
      if (token.rotatedAt !== null) return revokeOnReuse(deps, req, family)
      if (token.expiresAt <= now) throw new OAuthError('invalid_grant', 'the refresh token has expired')
      if (family.userId !== null && !(await stillMeetsRequirement(deps.requirements, client, family.userId, family.amr))) {
        return revokeTooWeak(deps, req, family, family.userId)
      }

      const scopes = narrowedScope(params.get('scope'), family)
      // RFC 8707: a refresh may repeat the family's resource, not choose another.
      const resource = params.get('resource')
      if (resource !== undefined && resource !== family.audience) {
        throw new OAuthError('invalid_target', 'resource differs from the one of the original grant')
      }

      const result = await deps.tokens.refresh({ client, family, presentedHash, scopes, request: req })
      // Lost a race with a concurrent rotation of the same token: as much a reuse as a later one.
      if (result === 'reused') return revokeOnReuse(deps, req, family)
      if (result === 'revoked' || result === 'userInactive') throw new OAuthError('invalid_grant', 'the refresh token has been revoked')
      return result
    },
  }
}

export const refreshTokenDefinition: GrantDefinition = {
  type: 'refresh_token',
  // A public client's refresh tokens are bound to it by rotation and reuse detection (RFC 9700 §4.14.2).
  confidentialOnly: false,
  parameters: ['refresh_token', 'scope', 'resource'],
  create: (deps) => refreshTokenGrant({ refreshTokens: deps.repos.refreshTokens, tokens: deps.tokens, clock: deps.clock, requirements: deps.requirements }),
}
