import type { FastifyPluginAsync } from 'fastify'
import { acrOf } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { formatScope } from '../oauth/scope.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { Client } from '../storage/clients.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenVerifier } from '../tokens/verify-access-token.js'
import type { ClientAuthenticator } from './client-authentication.js'
import { clientEndpoint, lookupOrder, requiredToken } from './client-endpoint.js'

export interface IntrospectRouteOptions {
  repos: Pick<Repositories, 'refreshTokens' | 'accessTokens' | 'users' | 'clients'>
  /** Checks latchkey's own access tokens (built once in app.ts). */
  verifier: AccessTokenVerifier
  clock: Clock
  issuer: string
  /** Client authentication and its limit on failures (built once in app.ts). */
  authenticate: ClientAuthenticator
}

type Introspection = { active: true } & Record<string, unknown>

/** `unknown`: not this kind of token, try the next; `inactive`: this kind, but not to be shown. */
type Outcome = Introspection | 'inactive' | 'unknown'

const INACTIVE = { active: false } as const

const epochSeconds = (ms: number) => Math.floor(ms / 1000)

/**
 * RFC 7662 for latchkey's own tokens. Only the token's client, or a resource server whose
 * registered audience is in the token's `aud`, sees its claims; everyone else, and any token
 * that is expired, revoked, rotated or unknown, gets `{"active":false}` (§2.2), so the answer
 * never tells a caller more than that it may not see the token.
 */
export const introspectRoute: FastifyPluginAsync<IntrospectRouteOptions> = async (app, { repos, verifier, clock, issuer, authenticate }) => {

  async function introspectAccessToken(token: string, client: Client): Promise<Outcome> {
    const claims = await verifier.verify(token)
    if (!claims) return 'unknown'
    const ownClient = claims.clientId === client.id
    const audience = client.audience !== null && claims.audience.includes(client.audience)
    // RFC 7662 §4: the caller must be entitled to the token before anything is said about it.
    if (!ownClient && !audience) return 'inactive'
    if (await repos.accessTokens.isRevoked(claims.jti)) return 'inactive'
    // A removed client's tokens stop with it: some (client_credentials, the password grant
    // without a refresh token) are not recorded, so revocation alone would not catch them.
    if (!ownClient && (await repos.clients.findById(claims.clientId)) === undefined) return 'inactive'
    // A user's token stops with the user: disabled or removed (some, from the password grant
    // without a refresh token, are not recorded, so revocation alone would not catch them).
    if (claims.authTimeSeconds !== undefined) {
      const user = await repos.users.findById(claims.subject)
      if (user === undefined || user.disabledAt !== null) return 'inactive'
    }
    const answer: Introspection = {
      active: true,
      scope: claims.scope,
      client_id: claims.clientId,
      sub: claims.subject,
      exp: claims.expiresAtSeconds,
      iat: claims.issuedAtSeconds,
      iss: claims.issuer,
      aud: claims.audience.length === 1 ? claims.audience[0] : claims.audience,
      token_type: 'Bearer',
      jti: claims.jti,
    }
    if (claims.authTimeSeconds !== undefined) answer.auth_time = claims.authTimeSeconds
    // How the user signed in, as the token says it (RFC 7662 §2.2 allows the token's claims).
    if (claims.acr !== undefined) answer.acr = claims.acr
    if (claims.amr !== undefined) answer.amr = claims.amr
    return answer
  }

  async function introspectRefreshToken(token: string, client: Client): Promise<Outcome> {
    const found = await repos.refreshTokens.findWithFamily(sha256Hex(token))
    if (!found) return 'unknown'
    const { token: record, family } = found
    const now = clock.now()
    // A rotated token no longer works (presenting it revokes the family), so it is not active.
    if (record.rotatedAt !== null || record.expiresAt <= now) return 'inactive'
    // Refresh tokens are only ever the business of the client they were issued to.
    if (family.revokedAt !== null || family.clientId !== client.id) return 'inactive'
    const answer: Introspection = {
      active: true,
      scope: formatScope(family.scopes),
      client_id: family.clientId,
      exp: epochSeconds(record.expiresAt),
      iat: epochSeconds(record.createdAt),
      iss: issuer,
      aud: family.audience,
      token_type: 'refresh_token',
    }
    if (family.userId !== null) {
      answer.sub = family.userId
      // How the user signed in when the family began: what its access tokens say.
      const amr = family.amr ?? ['pwd']
      answer.acr = acrOf(amr)
      answer.amr = amr
    }
    return answer
  }

  clientEndpoint(app, {
    url: '/introspect',
    authenticate,
    // RFC 7662 §2.1: the endpoint requires authorization; a bare client_id proves nothing.
    confidentialOnly: true,
    async handle({ params, client }) {
      const token = requiredToken(params)
      const lookups = { access_token: introspectAccessToken, refresh_token: introspectRefreshToken }
      for (const kind of lookupOrder(params.get('token_type_hint'))) {
        const outcome = await lookups[kind](token, client)
        if (outcome === 'inactive') return INACTIVE
        if (outcome !== 'unknown') return outcome
      }
      return INACTIVE
    },
  })
}
