import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { formatScope, parseScope } from '../oauth/scope.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { RefreshTokenFamily, RefreshTokenRepository } from '../storage/refresh-tokens.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import type { IdTokenSigner } from '../tokens/id-token.js'
import { newRefreshToken } from '../tokens/refresh-token.js'
import type { Grant, TokenRequest, TokenResponse } from './grant.js'

export interface RefreshTokenGrantDeps {
  refreshTokens: RefreshTokenRepository
  accessTokens: AccessTokenSigner
  idTokens: IdTokenSigner
  clock: Clock
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
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
  req.log.warn(
    { event: 'refresh_token_reuse', familyId: family.id, clientId: family.clientId, userId: family.userId, familyRevoked: revoked },
    'a rotated refresh token was presented again; its family is revoked',
  )
  throw new OAuthError('invalid_grant', 'the refresh token has already been used')
}

export function refreshTokenGrant(deps: RefreshTokenGrantDeps): Grant {
  return {
    type: 'refresh_token',
    async handle(req, client): Promise<TokenResponse> {
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

      const scopes = narrowedScope(params.get('scope'), family)
      // RFC 8707: a refresh may repeat the family's resource, not choose another.
      const resource = params.get('resource')
      if (resource !== undefined && resource !== family.audience) {
        throw new OAuthError('invalid_target', 'resource differs from the one of the original grant')
      }

      const access = await deps.accessTokens.issue({
        subject: family.userId ?? family.clientId,
        clientId: client.id,
        audience: family.audience,
        scopes,
        authTime: family.authTime ?? undefined,
      })
      // The successor keeps the family's scope (RFC 6749 §6); its expiry slides from now.
      const next = newRefreshToken(family, now, { ttlSeconds: deps.refreshTokenTtlSeconds, maxTtlSeconds: deps.refreshTokenMaxTtlSeconds })
      const result = await deps.refreshTokens.rotate({
        presentedHash,
        token: next.record,
        accessToken: {
          jti: access.jti,
          clientId: client.id,
          codeId: null,
          familyId: family.id,
          createdAt: now,
          expiresAt: access.expiresAt,
        },
        now,
      })
      // Lost a race with a concurrent rotation of the same token: as much a reuse as a later one.
      if (result === 'reused') return revokeOnReuse(deps, req, family)
      if (result === 'revoked') throw new OAuthError('invalid_grant', 'the refresh token has been revoked')

      const response: TokenResponse = {
        access_token: access.token,
        token_type: 'Bearer',
        expires_in: access.expiresInSeconds,
        scope: formatScope(scopes),
        refresh_token: next.token,
      }
      // OIDC Core §12.2: a family that began with openid gets a fresh ID token, with the
      // original auth_time and no nonce.
      if (family.beganWithOpenid && family.userId !== null && family.authTime !== null) {
        response.id_token = await deps.idTokens.issue({
          subject: family.userId,
          clientId: client.id,
          authTime: family.authTime,
          accessToken: access.token,
        })
      }
      return response
    },
  }
}
