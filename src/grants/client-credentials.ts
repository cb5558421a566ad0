import { resolveClientAudience, type ResourceServerLookup } from '../oauth/audience.js'
import { resolveScope, USER_SCOPES } from '../oauth/scope.js'
import type { TokenResponses } from '../tokens/token-response.js'
import type { GrantDefinition, GrantHandler } from './grant.js'

export interface ClientCredentialsGrantDeps {
  tokens: TokenResponses
  defaultAudience: string
  /** For self-registered clients: which audiences belong to registered resource servers. */
  isResourceServer: ResourceServerLookup
}

/**
 * RFC 6749 §4.4 / OAuth 2.1 §4.2: a confidential client acting for itself. The token's `sub`
 * is the client_id and it has no auth_time; no refresh token is issued (RFC 6749 §4.4.3).
 */
export function clientCredentialsGrant(deps: ClientCredentialsGrantDeps): GrantHandler {
  return {
    async handle(req, client) {
      const { params } = req
      // No user is involved, so the user scopes are never granted.
      const scopes = resolveScope(params.get('scope'), client.scopes, USER_SCOPES)
      const audience = await resolveClientAudience(params.get('resource'), client, deps.defaultAudience, deps.isResourceServer)
      return deps.tokens.forClient({ client, scopes, audience, request: req })
    },
  }
}

export const clientCredentialsDefinition: GrantDefinition = {
  type: 'client_credentials',
  // OAuth 2.1 §4.2: confidential clients only.
  confidentialOnly: true,
  parameters: ['scope', 'resource'],
  create: (deps) =>
    clientCredentialsGrant({
      tokens: deps.tokens,
      defaultAudience: deps.config.defaultAudience,
      isResourceServer: async (audience) => (await deps.repos.clients.findByAudience(audience)) !== undefined,
    }),
}
