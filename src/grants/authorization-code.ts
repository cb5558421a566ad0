import type { Clock } from '../clock.js'
import type { PkceRequired } from '../config.js'
import { OAuthError } from '../errors.js'
import { verifierMatches } from '../oauth/pkce.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationCode, AuthorizationCodeRepository } from '../storage/authorization-codes.js'
import type { Client } from '../storage/clients.js'
import type { TokenResponses } from '../tokens/token-response.js'
import type { GrantDefinition, GrantHandler, TokenRequest } from './grant.js'
import { SIGN_IN_TOO_WEAK, stillMeetsRequirement, type SignInRecheck } from './sign-in-recheck.js'

export interface AuthorizationCodeGrantDeps {
  codes: AuthorizationCodeRepository
  tokens: TokenResponses
  clock: Clock
  pkceRequired: PkceRequired
  requirements: SignInRecheck
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

/** RFC 9700 §4.2.4: a used code presented again; what it yielded is revoked, and it is recorded. */
async function replayed(deps: AuthorizationCodeGrantDeps, req: TokenRequest, code: AuthorizationCode, now: number): Promise<never> {
  await deps.codes.revokeIssuedFrom(code.id, now)
  req.audit.record({ event: 'code_replay', codeId: code.id, clientId: code.clientId })
  throw new OAuthError('invalid_grant', 'the authorization code has already been used')
}

export function authorizationCodeGrant(deps: AuthorizationCodeGrantDeps): GrantHandler {
  return {
    async handle(req, client) {
      const { params } = req
      const value = params.get('code')
      if (value === undefined) throw new OAuthError('invalid_request', 'code is required')
      const code = await deps.codes.findByHash(sha256Hex(value))
      if (!code) throw new OAuthError('invalid_grant', 'unknown authorization code')
      checkBinding(code, client, { redirectUri: params.get('redirect_uri'), verifier: params.get('code_verifier') }, deps.pkceRequired)
      const now = deps.clock.now()
      if (code.usedAt !== null) {
        // RFC 9700 §4.2.4: revoke what the code yielded, but only for an otherwise valid
        // replay (OAuth 2.1 §7.5.2), so a forged request cannot revoke someone's grant.
        return replayed(deps, req, code, now)
      }
      if (code.expiresAt <= now) throw new OAuthError('invalid_grant', 'the authorization code has expired')
      const resource = params.get('resource')
      if (resource !== undefined && resource !== code.resource) {
        throw new OAuthError('invalid_target', 'resource differs from the one in the authorization request')
      }
      // The requirement may have risen between issuing and redeeming (--require-mfa, a factor enrolled).
      if (!(await stillMeetsRequirement(deps.requirements, client, code.userId, code.amr))) {
        req.audit.record({ event: 'grant_refused', userId: code.userId, clientId: client.id, grant: req.grantType, reason: 'second_factor_required' })
        throw new OAuthError('invalid_grant', SIGN_IN_TOO_WEAK)
      }

      const response = await deps.tokens.exchangeCode({ client, code, request: req })
      // Disabled or removed since the code was issued (a sign-in that raced `user disable`).
      if (response === 'userInactive') throw new OAuthError('invalid_grant', 'the authorization code is no longer valid')
      if (!response) {
        // Lost a race with another redemption: as much a replay as a later one.
        return replayed(deps, req, code, now)
      }
      return response
    },
  }
}

export const authorizationCodeDefinition: GrantDefinition = {
  type: 'authorization_code',
  // A public client proves possession with PKCE instead of a secret (OAuth 2.1 §4.1).
  confidentialOnly: false,
  parameters: ['code', 'redirect_uri', 'code_verifier', 'resource'],
  create: (deps) =>
    authorizationCodeGrant({ codes: deps.repos.codes, tokens: deps.tokens, clock: deps.clock, pkceRequired: deps.config.pkceRequired, requirements: deps.requirements }),
}
