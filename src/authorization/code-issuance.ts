import { randomUUID } from 'node:crypto'
import type { AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationCodeRepository } from '../storage/authorization-codes.js'
import type { AuthorizationGrant } from '../storage/authorization-transactions.js'

export type { AuthorizationGrant }

/** A grant the user has approved (signed in and consented, or covered by a remembered consent). */
export interface ApprovedGrant extends AuthorizationGrant {
  userId: string
  /** Epoch ms of the sign-in the approval rests on. */
  authTime: number
  /** How that sign-in was made (RFC 8176): the tokens' amr and acr. */
  amr: readonly AuthMethod[]
}

export interface CodeIssuance {
  /** Stores a new code for the grant; returns the client's redirect URI carrying it. */
  issue(grant: ApprovedGrant): Promise<string>
}

/**
 * Authorization codes (RFC 6749 §4.1.2): 256 random bits, stored only as their SHA-256, bound to
 * the client, redirect URI, PKCE challenge, scopes, resource, user and nonce, redeemed once at
 * /token within `codeTtlSeconds`.
 */
export function codeIssuance(deps: { codes: AuthorizationCodeRepository; clock: Clock; codeTtlSeconds: number; issuer: string }): CodeIssuance {
  return {
    async issue(grant) {
      const code = randomToken(32)
      const now = deps.clock.now()
      await deps.codes.create({
        id: randomUUID(),
        codeHash: sha256Hex(code),
        clientId: grant.clientId,
        userId: grant.userId,
        redirectUri: grant.redirectUri,
        scopes: grant.scopes,
        resource: grant.resource,
        codeChallenge: grant.codeChallenge,
        codeChallengeMethod: grant.codeChallengeMethod,
        authTime: grant.authTime,
        amr: [...grant.amr],
        createdAt: now,
        expiresAt: now + deps.codeTtlSeconds * 1000,
        usedAt: null,
        familyId: null,
        nonce: grant.nonce,
      })
      const url = new URL(grant.redirectUri)
      url.searchParams.set('code', code)
      if (grant.state !== null) url.searchParams.set('state', grant.state)
      // RFC 9207: the response names its issuer, against mix-up attacks.
      url.searchParams.set('iss', deps.issuer)
      return url.href
    },
  }
}
