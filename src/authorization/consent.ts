import type { Clock } from '../clock.js'
import type { Client } from '../storage/clients.js'
import type { ConsentRepository } from '../storage/consents.js'

/**
 * OAuth 2.1 §7.3.1: only a client that can be identified may skip a repeated consent. A
 * self-registered one never can (RFC 7591 §5: anyone may register any name and redirect URI),
 * so it never skips the page, and never inherits a consent given before.
 */
export function consentCanBeRemembered(client: Pick<Client, 'isPublic' | 'selfRegistered'>, redirectUri: string): boolean {
  if (client.selfRegistered === true) return false
  return !client.isPublic || redirectUri.startsWith('https://')
}

/** What the user is asked to allow: scopes, for one resource (the token's audience, RFC 8707). */
export interface ConsentScope {
  scopes: readonly string[]
  resource: string
}

export interface ConsentRequest extends ConsentScope {
  redirectUri: string
  userId: string
  /** `prompt=consent`: show the page whatever was remembered. */
  forceConsent: boolean
}

export interface ConsentPolicy {
  /** Whether the user must see the consent page for this request. */
  needsConsent(client: Client, request: ConsentRequest): Promise<boolean>
  /** Remembers what the user allowed, adding to what was allowed before. */
  remember(clientId: string, userId: string, allowed: ConsentScope): Promise<void>
}

/**
 * A remembered consent covers the same client, the same resource and any subset of the scopes
 * it was given for there: consent to one API is not consent to another (RFC 9700 §2.3), nor
 * are the scopes allowed for one API allowed for another.
 */
export function consentPolicy(deps: { consents: ConsentRepository; clock: Clock }): ConsentPolicy {
  return {
    async needsConsent(client, request) {
      if (request.forceConsent || !consentCanBeRemembered(client, request.redirectUri)) return true
      const consent = await deps.consents.find(client.id, request.userId, request.resource)
      return !consent || !request.scopes.every((scope) => consent.scopes.includes(scope))
    },
    async remember(clientId, userId, allowed) {
      await deps.consents.grant(clientId, userId, allowed.resource, allowed.scopes, deps.clock.now())
    },
  }
}
