import { checkCredentials } from '../accounts/credentials.js'
import type { LoginThrottle } from '../accounts/login-throttle.js'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { resolveResource } from '../oauth/params.js'
import { formatScope, resolveScope } from '../oauth/scope.js'
import type { RefreshTokenRepository } from '../storage/refresh-tokens.js'
import type { UserRepository } from '../storage/users.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import { newFamily, newRefreshToken } from '../tokens/refresh-token.js'
import type { Grant, TokenResponse } from './grant.js'

export interface PasswordGrantDeps {
  users: UserRepository
  throttle: LoginThrottle
  passwords: PasswordHasher
  refreshTokens: RefreshTokenRepository
  accessTokens: AccessTokenSigner
  clock: Clock
  defaultAudience: string
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
}

/**
 * RFC 6749 §4.3, for clients registered with `--grant password` only (RFC 9700 §2.4 says not to
 * use it; it is never on by default). The credentials are checked exactly as on the login page,
 * throttle included.
 */
export function passwordGrant(deps: PasswordGrantDeps): Grant {
  return {
    type: 'password',
    async handle({ params, log, ip }, client): Promise<TokenResponse> {
      // Registration refuses a public client with this grant; refuse one here too.
      if (client.isPublic) throw new OAuthError('unauthorized_client', 'the password grant is for confidential clients only')
      const username = params.get('username')
      const password = params.get('password')
      if (username === undefined) throw new OAuthError('invalid_request', 'username is required')
      if (password === undefined) throw new OAuthError('invalid_request', 'password is required')
      // The request is checked before the credentials, so a malformed one costs no argon2
      // work and no attempt against the username.
      const scopes = resolveScope(params.get('scope'), client.scopes)
      const resource = resolveResource(params.get('resource'), deps.defaultAudience)

      const checked = await checkCredentials({ users: deps.users, throttle: deps.throttle, passwords: deps.passwords, log }, { username, password, ip })
      // Unknown usernames are throttled too, so neither answer reveals whether the user exists.
      if (checked.outcome === 'throttled') {
        throw new OAuthError('invalid_grant', 'too many failed sign-ins; try again later')
      }
      if (checked.outcome === 'wrong') throw new OAuthError('invalid_grant', 'wrong username or password')

      const now = deps.clock.now()
      const access = await deps.accessTokens.issue({ subject: checked.user.id, clientId: client.id, audience: resource, scopes, authTime: now })
      const response: TokenResponse = {
        access_token: access.token,
        token_type: 'Bearer',
        expires_in: access.expiresInSeconds,
        scope: formatScope(scopes),
      }
      if (client.grantTypes.includes('refresh_token')) {
        const family = newFamily({
          clientId: client.id,
          userId: checked.user.id,
          scopes,
          audience: resource,
          authTime: now,
          // The password grant is not an OpenID Connect flow and returns no ID token; its
          // refreshes return none either.
          beganWithOpenid: false,
          createdAt: now,
        })
        const refresh = newRefreshToken(family, now, { ttlSeconds: deps.refreshTokenTtlSeconds, maxTtlSeconds: deps.refreshTokenMaxTtlSeconds })
        await deps.refreshTokens.createFamily({
          family,
          token: refresh.record,
          accessToken: { jti: access.jti, clientId: client.id, codeId: null, familyId: family.id, createdAt: now, expiresAt: access.expiresAt },
        })
        response.refresh_token = refresh.token
      }
      return response
    },
  }
}
