import type { FastifyPluginAsync } from 'fastify'
import type { Clock } from '../clock.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { Client } from '../storage/clients.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenVerifier } from '../tokens/verify-access-token.js'
import type { ClientAuthenticator } from './client-authentication.js'
import { clientEndpoint, lookupOrder, requiredToken, type ClientRequest } from './client-endpoint.js'

export interface RevokeRouteOptions {
  repos: Pick<Repositories, 'refreshTokens' | 'accessTokens'>
  /** Checks latchkey's own access tokens (built once in app.ts). */
  verifier: AccessTokenVerifier
  clock: Clock
  /** Client authentication and its limit on failures (built once in app.ts). */
  authenticate: ClientAuthenticator
}

/** What a lookup found: `unknown` lets the next kind of token be tried. */
type Outcome = 'revoked' | 'ignored' | 'unknown'

/**
 * RFC 7009: a client revokes its own tokens. A refresh token revokes its family and the access
 * tokens issued from it; an access token is recorded as revoked until it expires. Anything else
 * (unknown, malformed, expired, another client's) answers the same 200 and changes nothing
 * (§2.2), so the endpoint tells no one whether a token exists.
 */
export const revokeRoute: FastifyPluginAsync<RevokeRouteOptions> = async (app, { repos, verifier, clock, authenticate }) => {

  async function revokeRefreshToken(token: string, client: Client, { audit }: ClientRequest): Promise<Outcome> {
    const found = await repos.refreshTokens.findWithFamily(sha256Hex(token))
    if (!found) return 'unknown'
    const { family } = found
    // RFC 7009 §2.1: the token must have been issued to the requesting client.
    if (family.clientId !== client.id) return 'ignored'
    // §2.1: revoking a refresh token also invalidates the access tokens of the same grant.
    if (await repos.refreshTokens.revokeFamily(family.id, clock.now())) {
      audit.record({ event: 'token_revoked', kind: 'refresh_token', familyId: family.id, clientId: client.id })
    }
    return 'revoked'
  }

  async function revokeAccessToken(token: string, client: Client, { audit }: ClientRequest): Promise<Outcome> {
    const claims = await verifier.verify(token)
    // Expired tokens are dead already: nothing to record.
    if (!claims) return 'unknown'
    if (claims.clientId !== client.id) return 'ignored'
    await repos.accessTokens.revoke(claims.jti, claims.expiresAtSeconds * 1000, clock.now())
    audit.record({ event: 'token_revoked', kind: 'access_token', jti: claims.jti, clientId: client.id })
    return 'revoked'
  }

  clientEndpoint(app, {
    url: '/revoke',
    authenticate,
    // RFC 7009 §2.1: a public client identifies itself with its client_id.
    confidentialOnly: false,
    async handle(request, reply) {
      const token = requiredToken(request.params)
      const revokers = { refresh_token: revokeRefreshToken, access_token: revokeAccessToken }
      for (const kind of lookupOrder(request.params.get('token_type_hint'))) {
        if ((await revokers[kind](token, request.client, request)) !== 'unknown') break
      }
      // §2.2: 200 whether or not anything was revoked; the body is empty.
      return reply.code(200).send()
    },
  })
}
