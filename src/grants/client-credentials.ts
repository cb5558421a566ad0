import { OAuthError } from '../errors.js'
import { resolveResource } from '../oauth/params.js'
import { formatScope, resolveScope, USER_SCOPES } from '../oauth/scope.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import type { Grant, TokenResponse } from './grant.js'

export interface ClientCredentialsGrantDeps {
  accessTokens: AccessTokenSigner
  defaultAudience: string
}

/**
 * RFC 6749 §4.4 / OAuth 2.1 §4.2: a confidential client acting for itself. The token's `sub`
 * is the client_id and it has no auth_time. Nothing is stored: the token comes from no code
 * or family, and no refresh token is issued (RFC 6749 §4.4.3).
 */
export function clientCredentialsGrant(deps: ClientCredentialsGrantDeps): Grant {
  return {
    type: 'client_credentials',
    async handle({ params }, client): Promise<TokenResponse> {
      // OAuth 2.1 §4.2: confidential clients only (registration refuses a public one too).
      if (client.isPublic) throw new OAuthError('unauthorized_client', 'client credentials are for confidential clients only')
      // No user is involved, so the user scopes are never granted.
      const scopes = resolveScope(params.get('scope'), client.scopes, USER_SCOPES)
      const resource = resolveResource(params.get('resource'), deps.defaultAudience)
      const access = await deps.accessTokens.issue({ subject: client.id, clientId: client.id, audience: resource, scopes })
      return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresInSeconds, scope: formatScope(scopes) }
    },
  }
}
