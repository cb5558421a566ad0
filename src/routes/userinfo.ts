import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { OAuthError } from '../errors.js'
import { bearerToken } from '../oauth/bearer.js'
import type { Repositories } from '../storage/repositories.js'
import type { User } from '../storage/users.js'
import type { AccessTokenVerifier } from '../tokens/verify-access-token.js'
import { refuseOtherMethods } from './route-rules.js'

const invalidToken = (description: string) => new OAuthError('invalid_token', description)

export interface UserinfoRouteOptions {
  repos: Pick<Repositories, 'users' | 'clients' | 'accessTokens'>
  /** Checks latchkey's own access tokens (built once in app.ts). */
  verifier: AccessTokenVerifier
}

/**
 * OIDC Core §5.1 claims for the scopes the user consented to: `sub` always; `profile` gives
 * `preferred_username` and `name` (when set); `email` gives `email` and, with it,
 * `email_verified: false`, because latchkey never verifies addresses. A claim latchkey does not
 * have is left out, never null (§5.3.2).
 */
export function userinfoClaims(user: User, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = { sub: user.id }
  if (scopes.includes('profile')) {
    if (user.name !== null) claims.name = user.name
    claims.preferred_username = user.username
  }
  if (scopes.includes('email') && user.email !== null) {
    claims.email = user.email
    claims.email_verified = false
  }
  return claims
}

/**
 * OIDC Core §5.3 UserInfo, protected by RFC 6750 bearer tokens: a user's access token from this
 * issuer with the `openid` scope, whatever its `aud` (docs/adr/0005-userinfo-audience.md).
 * Refusals are OAuthErrors that the error handler's `bearer` format answers with an RFC 6750
 * challenge; every answer is no-store (personal data, errors about a token), as everywhere.
 */
export const userinfoRoute: FastifyPluginAsync<UserinfoRouteOptions> = async (app, { repos, verifier }) => {

  // RFC 6750 §2.2: only a form body can carry the token. Any other body is read (so bodyLimit
  // still applies) and ignored, so a JSON or text body never yields a token, nor a 415 for a
  // client that sends the header and some body.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string))
  })
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined))

  async function userOf(token: string): Promise<{ user: User; scopes: string[] }> {
    // Signature by a published key, typ at+jwt, RS256, exact iss, exp. No aud check: latchkey
    // is the resource here, whatever resource server the token was minted for (ADR 0005).
    const claims = await verifier.verify(token)
    if (!claims) throw invalidToken('access token is invalid or expired')
    if (await repos.accessTokens.isRevoked(claims.jti)) throw invalidToken('access token has been revoked')
    // A client_credentials token names its client in `sub` and has no auth_time: no user to
    // describe, whatever scope it carries.
    if (claims.authTimeSeconds === undefined || claims.subject === claims.clientId) {
      throw invalidToken('access token was not issued to a user')
    }
    // A removed client's tokens stop with it, recorded or not (the password grant without a
    // refresh token records none).
    if ((await repos.clients.findById(claims.clientId)) === undefined) throw invalidToken("the access token's client no longer exists")
    const user = await repos.users.findById(claims.subject)
    if (!user) throw invalidToken("the access token's user no longer exists")
    if (user.disabledAt !== null) throw invalidToken("the access token's user is disabled")
    const scopes = claims.scope.split(' ')
    // OIDC Core §5.3: the token must come from an OpenID Connect request.
    if (!scopes.includes('openid')) throw OAuthError.insufficientScope('openid')
    return { user, scopes }
  }

  async function userinfo(request: FastifyRequest) {
    const body = request.method === 'POST' && request.body instanceof URLSearchParams ? request.body : undefined
    const token = bearerToken({ authorization: request.headers.authorization, formTokens: body?.getAll('access_token') ?? [] })
    const { user, scopes } = await userOf(token)
    return userinfoClaims(user, scopes)
  }

  const config = { errorFormat: 'bearer' as const }
  app.get('/userinfo', { config, exposeHeadRoute: false }, userinfo)
  app.post('/userinfo', { config }, userinfo)
  // OPTIONS stays with @fastify/cors, which answers the preflight.
  refuseOtherMethods(app, '/userinfo', ['HEAD', 'PUT', 'PATCH', 'DELETE'], 'GET, POST')
}
