import type { FastifyRequest } from 'fastify'
import { ADMIN_SCOPE } from '../../admin/client-rules.js'
import { isAdminClient } from '../../admin/clients.js'
import { OAuthError } from '../../errors.js'
import { bearerToken } from '../../oauth/bearer.js'
import type { AccessTokenRepository } from '../../storage/access-tokens.js'
import type { ClientRepository } from '../../storage/clients.js'
import type { AccessTokenVerifier } from '../../tokens/verify-access-token.js'

const invalidToken = (description: string) => new OAuthError('invalid_token', description)

/** Returns the client_id of the admin client a request acts as, or throws the RFC 6750 refusal. */
export type AdminAuthenticator = (request: FastifyRequest) => Promise<string>

/**
 * The admin API takes latchkey's own access tokens (RFC 6750 §2.1, header only): a client
 * credentials token for `audience` (ISSUER/admin/v1) with the scope latchkey:admin. Each call
 * checks the signature, issuer and expiry (the verifier), the audience, revocation by jti, and
 * that the client still exists and is still an admin, so removing the client or taking its
 * admin scope away stops its unexpired tokens at once.
 */
export function adminAuthenticator(deps: {
  verifier: AccessTokenVerifier
  accessTokens: Pick<AccessTokenRepository, 'isRevoked'>
  clients: Pick<ClientRepository, 'findById'>
  audience: string
}): AdminAuthenticator {
  return async (request) => {
    const token = bearerToken({ authorization: request.headers.authorization, formTokens: [] })
    const claims = await deps.verifier.verify(token)
    if (!claims) throw invalidToken('access token is invalid or expired')
    // RFC 9068 §4: a token minted for another resource server is not valid here.
    if (!claims.audience.includes(deps.audience)) throw invalidToken('access token is not for the admin API')
    if (await deps.accessTokens.isRevoked(claims.jti)) throw invalidToken('access token has been revoked')
    // A user's token (sub is a user id, ARCHITECTURE.md "Identifiers") is valid but never enough.
    if (claims.subject !== claims.clientId || claims.authTimeSeconds !== undefined) {
      throw new OAuthError('insufficient_scope', 'the admin API takes a client credentials token, not a user token', { scope: ADMIN_SCOPE })
    }
    const client = await deps.clients.findById(claims.clientId)
    if (!client || !isAdminClient(client)) throw invalidToken('the token\'s client no longer exists or is no longer an admin client')
    if (!claims.scope.split(' ').includes(ADMIN_SCOPE)) throw OAuthError.insufficientScope(ADMIN_SCOPE)
    return client.id
  }
}
