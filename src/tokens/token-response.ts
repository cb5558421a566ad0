import { PASSWORD_ONLY, type AuthMethod } from '../oauth/auth-methods.js'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { formatScope } from '../oauth/scope.js'
import type { AccessTokenRecord } from '../storage/access-tokens.js'
import type { AuthorizationCode, AuthorizationCodeRepository } from '../storage/authorization-codes.js'
import type { Client } from '../storage/clients.js'
import type { RefreshTokenFamily, RefreshTokenRepository } from '../storage/refresh-tokens.js'
import type { UserRepository } from '../storage/users.js'
import type { AccessTokenClaims, AccessTokenSigner, IssuedAccessToken } from './access-token.js'
import type { IdTokenClaims, IdTokenSigner } from './id-token.js'
import { newFamily, newRefreshToken, type NewRefreshToken } from './refresh-token.js'

/** RFC 6750 bearer tokens; sender-constrained tokens (DPoP, RFC 9449) would add theirs. */
export type TokenType = 'Bearer'

/**
 * How an access token is bound to its holder: the response's `token_type` and the token's
 * RFC 7800 `cnf` claim. The one place a sender-constrained token changes what is issued.
 */
export interface TokenBinding {
  tokenType: TokenType
  confirmation?: Readonly<Record<string, unknown>> | undefined
}

export const BEARER: TokenBinding = { tokenType: 'Bearer' }

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string
  token_type: TokenType
  expires_in: number
  scope: string
  refresh_token?: string
  /** OIDC Core §3.1.3.3: with the openid scope. */
  id_token?: string
}

/** The request tokens are issued for: where the issue is recorded, and under which grant. */
export interface IssuingRequest {
  audit: AuditLog
  grantType: string
}

interface Issue {
  client: Client
  request: IssuingRequest
  /** Default: a bearer token without `cnf`. */
  binding?: TokenBinding | undefined
}

/**
 * Issuing at /token, for every grant: the access token (signed, and its jti recorded with the
 * code or family it came from), the refresh token, the ID token and the response body. What
 * one issue writes is one transaction of the repositories (ADR 0004).
 */
export interface TokenResponses {
  /**
   * RFC 6749 §4.1.3: the code's user, scope, resource and auth_time. Starts a family when the
   * client is registered for refresh_token; with `openid`, an ID token carrying the request's
   * nonce. Undefined, with nothing written, when a concurrent redemption took the code;
   * `userInactive`, with nothing written, when the code's user is disabled or removed.
   */
  exchangeCode(input: Issue & { code: AuthorizationCode }): Promise<TokenResponse | undefined | 'userInactive'>
  /**
   * RFC 6749 §6: rotates the presented refresh token within its family; `scopes` may narrow
   * the access token. OIDC Core §12.2: a family begun with openid gets an ID token with the
   * original auth_time and no nonce. `reused`, `revoked` or `userInactive` (see RotationResult):
   * nothing written.
   */
  refresh(input: Issue & { family: RefreshTokenFamily; presentedHash: string; scopes: readonly string[] }): Promise<TokenResponse | 'reused' | 'revoked' | 'userInactive'>
  /**
   * A user's tokens without a code (the password grant). Starts a family when the client is
   * registered for refresh_token; no ID token, as this is no OpenID Connect flow, and so none
   * on its refreshes either. `userInactive`, with nothing issued, when the user was disabled or
   * removed since the credentials were checked.
   */
  forUser(input: Issue & { userId: string; scopes: readonly string[]; audience: string; authTime: number; amr: readonly AuthMethod[] }): Promise<TokenResponse | 'userInactive'>
  /**
   * A client's own token (`sub` is the client_id, no auth_time). Nothing is stored: it comes
   * from no code or family (ADR 0004), and no refresh token is issued (RFC 6749 §4.4.3).
   */
  forClient(input: Issue & { scopes: readonly string[]; audience: string }): Promise<TokenResponse>
}

export interface TokenResponseDeps {
  accessTokens: AccessTokenSigner
  idTokens: IdTokenSigner
  codes: AuthorizationCodeRepository
  refreshTokens: RefreshTokenRepository
  /** The user check of a password-grant answer that stores nothing (no family). */
  users: Pick<UserRepository, 'confirmActive'>
  clock: Clock
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
}

export function tokenResponses(deps: TokenResponseDeps): TokenResponses {
  const lifetimes = { ttlSeconds: deps.refreshTokenTtlSeconds, maxTtlSeconds: deps.refreshTokenMaxTtlSeconds }

  const sign = (claims: Omit<AccessTokenClaims, 'confirmation'>, binding: TokenBinding): Promise<IssuedAccessToken> =>
    deps.accessTokens.issue({ ...claims, confirmation: binding.confirmation })

  const recordOf = (access: IssuedAccessToken, client: Client, from: { codeId?: string; familyId?: string }, now: number): AccessTokenRecord => ({
    jti: access.jti,
    clientId: client.id,
    codeId: from.codeId ?? null,
    familyId: from.familyId ?? null,
    createdAt: now,
    expiresAt: access.expiresAt,
  })

  /** Every authorization that yields refresh tokens starts a family: only for clients registered for them. */
  const startFamily = (
    client: Client,
    input: Pick<RefreshTokenFamily, 'userId' | 'audience' | 'authTime' | 'beganWithOpenid'> & { scopes: readonly string[]; amr: readonly AuthMethod[] },
    now: number,
  ): { family: RefreshTokenFamily; refresh: NewRefreshToken } | undefined => {
    if (!client.grantTypes.includes('refresh_token')) return undefined
    const family = newFamily({ ...input, scopes: [...input.scopes], amr: [...input.amr], clientId: client.id, createdAt: now })
    return { family, refresh: newRefreshToken(family, now, lifetimes) }
  }

  /**
   * The body, once everything is stored; the ID token carries the access token's at_hash. The
   * issue goes to the audit log with ids only: the jti and family, never a token.
   */
  const respond = async (
    access: IssuedAccessToken,
    issue: Issue & { subject: string; familyId?: string | undefined },
    parts: { binding: TokenBinding; scopes: readonly string[]; refreshToken?: string | undefined; idToken?: Omit<IdTokenClaims, 'accessToken'> | undefined },
  ): Promise<TokenResponse> => {
    const response: TokenResponse = {
      access_token: access.token,
      token_type: parts.binding.tokenType,
      expires_in: access.expiresInSeconds,
      scope: formatScope(parts.scopes),
    }
    if (parts.refreshToken !== undefined) response.refresh_token = parts.refreshToken
    if (parts.idToken !== undefined) response.id_token = await deps.idTokens.issue({ ...parts.idToken, accessToken: access.token })
    issue.request.audit.record({
      event: 'tokens_issued',
      grant: issue.request.grantType,
      clientId: issue.client.id,
      subject: issue.subject,
      jti: access.jti,
      familyId: issue.familyId,
      idToken: response.id_token !== undefined,
    })
    return response
  }

  return {
    async exchangeCode(issue) {
      const { client, code, binding = BEARER } = issue
      const now = deps.clock.now()
      const openid = code.scopes.includes('openid')
      const access = await sign(
        { subject: code.userId, clientId: client.id, audience: code.resource, scopes: code.scopes, authTime: code.authTime, amr: code.amr },
        binding,
      )
      const started = startFamily(
        client,
        { userId: code.userId, scopes: code.scopes, audience: code.resource, authTime: code.authTime, amr: code.amr, beganWithOpenid: openid },
        now,
      )
      const redeemed = await deps.codes.redeem({
        codeId: code.id,
        userId: code.userId,
        now,
        accessToken: recordOf(access, client, { codeId: code.id, ...(started ? { familyId: started.family.id } : {}) }, now),
        ...(started ? { refresh: { family: started.family, token: started.refresh.record } } : {}),
      })
      if (redeemed === 'used') return undefined
      if (redeemed === 'userInactive') return redeemed
      return respond(access, { ...issue, subject: code.userId, familyId: started?.family.id }, {
        binding,
        scopes: code.scopes,
        refreshToken: started?.refresh.token,
        idToken: openid ? { subject: code.userId, clientId: client.id, authTime: code.authTime, amr: code.amr, nonce: code.nonce ?? undefined } : undefined,
      })
    },

    async refresh(issue) {
      const { client, family, presentedHash, scopes, binding = BEARER } = issue
      const now = deps.clock.now()
      // A user's family keeps the amr of the sign-in it began with (older rows read as ["pwd"]).
      const amr = family.userId === null ? undefined : (family.amr ?? PASSWORD_ONLY)
      const access = await sign(
        { subject: family.userId ?? family.clientId, clientId: client.id, audience: family.audience, scopes, authTime: family.authTime ?? undefined, amr },
        binding,
      )
      // The successor keeps the family's scope (RFC 6749 §6); its expiry slides from now.
      const next = newRefreshToken(family, now, lifetimes)
      const result = await deps.refreshTokens.rotate({
        presentedHash,
        token: next.record,
        accessToken: recordOf(access, client, { familyId: family.id }, now),
        now,
        userId: family.userId,
      })
      if (result !== 'rotated') return result
      const idToken = family.beganWithOpenid && family.userId !== null && family.authTime !== null && amr !== undefined
        ? { subject: family.userId, clientId: client.id, authTime: family.authTime, amr }
        : undefined
      return respond(access, { ...issue, subject: family.userId ?? family.clientId, familyId: family.id }, { binding, scopes, refreshToken: next.token, idToken })
    },

    async forUser(issue) {
      const { client, userId, scopes, audience, authTime, amr, binding = BEARER } = issue
      const now = deps.clock.now()
      const access = await sign({ subject: userId, clientId: client.id, audience, scopes, authTime, amr }, binding)
      const started = startFamily(client, { userId, scopes, audience, authTime, amr, beganWithOpenid: false }, now)
      // Every issue for a user checks, in its transaction, that the user is still active: the
      // credentials were checked before argon2's wait, and a disable may have landed since.
      const active = started
        ? await deps.refreshTokens.createFamily({
            family: started.family,
            token: started.refresh.record,
            accessToken: recordOf(access, client, { familyId: started.family.id }, now),
          })
        : await deps.users.confirmActive(userId)
      if (!active) return 'userInactive'
      return respond(access, { ...issue, subject: userId, familyId: started?.family.id }, { binding, scopes, refreshToken: started?.refresh.token })
    },

    async forClient(issue) {
      const { client, scopes, audience, binding = BEARER } = issue
      const access = await sign({ subject: client.id, clientId: client.id, audience, scopes }, binding)
      return respond(access, { ...issue, subject: client.id }, { binding, scopes })
    },
  }
}
