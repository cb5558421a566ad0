import type { Clock } from '../clock.js'
import type { PkceRequired } from '../config.js'
import { OAuthError } from '../errors.js'
import { verifierMatches } from '../oauth/pkce.js'
import { formatScope } from '../oauth/scope.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationCode, AuthorizationCodeRepository } from '../storage/authorization-codes.js'
import type { Client } from '../storage/clients.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import type { IdTokenSigner } from '../tokens/id-token.js'
import { newFamily, newRefreshToken } from '../tokens/refresh-token.js'
import type { Grant, TokenResponse } from './grant.js'

export interface AuthorizationCodeGrantDeps {
  codes: AuthorizationCodeRepository
  accessTokens: AccessTokenSigner
  idTokens: IdTokenSigner
  clock: Clock
  pkceRequired: PkceRequired
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
}

/** Checks everything a legitimate holder of the code can get right: client, redirect URI, PKCE. */
function checkBinding(code: AuthorizationCode, client: Client, params: { redirectUri?: string; verifier?: string }, pkceRequired: PkceRequired): void {
  // OAuth 2.1 §4.1.3: the code was issued to this client.
  if (code.clientId !== client.id) throw new OAuthError('invalid_grant', 'the code was issued to another client')
  // RFC 6749 §4.1.3: the code is bound to its redirect_uri.
  if (params.redirectUri !== code.redirectUri) {
    throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
  }
  if (code.codeChallenge !== null) {
    if (params.verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required')
    if (!verifierMatches(params.verifier, code.codeChallenge)) {
      throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge')
    }
    return
  }
  // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a PKCE downgrade.
  if (params.verifier !== undefined) throw new OAuthError('invalid_grant', 'code_verifier sent for a code issued without PKCE')
  if (client.isPublic || pkceRequired === 'all') {
    throw new OAuthError('invalid_grant', 'the code was issued without PKCE, which this client must use')
  }
}

export function authorizationCodeGrant(deps: AuthorizationCodeGrantDeps): Grant {
  return {
    type: 'authorization_code',
    async handle({ params }, client): Promise<TokenResponse> {
      const value = params.get('code')
      if (value === undefined) throw new OAuthError('invalid_request', 'code is required')
      const code = await deps.codes.findByHash(sha256Hex(value))
      if (!code) throw new OAuthError('invalid_grant', 'unknown authorization code')
      checkBinding(code, client, { redirectUri: params.get('redirect_uri'), verifier: params.get('code_verifier') }, deps.pkceRequired)
      const now = deps.clock.now()
      if (code.usedAt !== null) {
        // RFC 9700 §4.2.4: revoke what the code yielded, but only for an otherwise valid
        // replay (OAuth 2.1 §7.5.2), so a forged request cannot revoke someone's grant.
        await deps.codes.revokeIssuedFrom(code.id, now)
        throw new OAuthError('invalid_grant', 'the authorization code has already been used')
      }
      if (code.expiresAt <= now) throw new OAuthError('invalid_grant', 'the authorization code has expired')
      const resource = params.get('resource')
      if (resource !== undefined && resource !== code.resource) {
        throw new OAuthError('invalid_target', 'resource differs from the one in the authorization request')
      }

      const access = await deps.accessTokens.issue({
        subject: code.userId,
        clientId: client.id,
        audience: code.resource,
        scopes: code.scopes,
        authTime: code.authTime,
      })
      let refresh: ReturnType<typeof newRefreshToken> | undefined
      let family: ReturnType<typeof newFamily> | undefined
      if (client.grantTypes.includes('refresh_token')) {
        family = newFamily({
          clientId: client.id,
          userId: code.userId,
          scopes: code.scopes,
          audience: code.resource,
          authTime: code.authTime,
          beganWithOpenid: code.scopes.includes('openid'),
          createdAt: now,
        })
        refresh = newRefreshToken(family, now, { ttlSeconds: deps.refreshTokenTtlSeconds, maxTtlSeconds: deps.refreshTokenMaxTtlSeconds })
      }
      const redeemed = await deps.codes.redeem({
        codeId: code.id,
        now,
        accessToken: {
          jti: access.jti,
          clientId: client.id,
          codeId: code.id,
          familyId: family?.id ?? null,
          createdAt: now,
          expiresAt: access.expiresAt,
        },
        ...(family && refresh ? { refresh: { family, token: refresh.record } } : {}),
      })
      if (!redeemed) {
        // Lost a race with another redemption: as much a replay as a later one.
        await deps.codes.revokeIssuedFrom(code.id, now)
        throw new OAuthError('invalid_grant', 'the authorization code has already been used')
      }

      const response: TokenResponse = {
        access_token: access.token,
        token_type: 'Bearer',
        expires_in: access.expiresInSeconds,
        scope: formatScope(code.scopes),
      }
      if (refresh) response.refresh_token = refresh.token
      if (code.scopes.includes('openid')) {
        response.id_token = await deps.idTokens.issue({
          subject: code.userId,
          clientId: client.id,
          authTime: code.authTime,
          nonce: code.nonce ?? undefined,
          accessToken: access.token,
        })
      }
      return response
    },
  }
}

