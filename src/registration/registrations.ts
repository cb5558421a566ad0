import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import type { RegistrationConfig } from '../config.js'
import { OAuthError } from '../errors.js'
import type { GrantDescriptor } from '../grants/grant.js'
import { clientNetwork } from '../network.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../oauth/secrets.js'
import type { Client } from '../storage/clients.js'
import type { InTransaction, Repositories } from '../storage/repositories.js'
import { AUTH_METHODS, metadataFields, parseMetadata, type AuthMethod, type ClientMetadata, type MetadataRules } from './metadata.js'
import { refuseReservedOrigins } from './reserved-origins.js'

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), without HTTP: the
 * route (routes/register.ts) reads the request and sends what these return.
 */

/** Registration requests one client address may make per window (LIMIT_REGISTRATIONS_PER_ADDRESS). */
export const REGISTRATION_WINDOW_MS = 60 * 60_000

/** A token is issued to a self-registered client: last_used_at is written when older than this. */
export const LAST_USED_GRANULARITY_MS = 60 * 60_000

/**
 * Registrations (clients created) per REGISTRATION_WINDOW_MS from all addresses together: with
 * REGISTRATION=open an attacker with many addresses could otherwise grow the clients table
 * without bound. Far above what agents registering themselves need; past it, 429 for everyone.
 */
export const MAX_REGISTRATIONS_PER_HOUR = 1000

/** The one failure-counter key of all registrations (the per-address keys hash an address). */
export const REGISTRATIONS_KEY = sha256Hex('registrations:all')

export function registrationAddressKey(ip: string): string {
  return sha256Hex(`registration-address:${clientNetwork(ip)}`)
}

export interface RegistrationDeps {
  repos: Pick<Repositories, 'clients' | 'scopes' | 'failureCounters' | 'initialAccessTokens'>
  transaction: InTransaction
  clock: Clock
  issuer: string
  config: RegistrationConfig
  grants: readonly GrantDescriptor[]
  /** MAX_REGISTRATIONS_PER_HOUR unless a test lowers it. */
  maxRegistrationsPerHour?: number
}

/** A response body with its status (201 for a registration, 200 for a read or update). */
export interface RegistrationResponse {
  status: 200 | 201
  body: Record<string, unknown>
}

export interface Registrations {
  /** RFC 7591 §3: `initialAccessToken` is the request's bearer token, if any. */
  register(request: { body: unknown; initialAccessToken: string | undefined; ip: string; audit: AuditLog }): Promise<RegistrationResponse>
  /** RFC 7592 §2.1. */
  read(request: { clientId: string; token: string | undefined }): Promise<RegistrationResponse>
  /** RFC 7592 §2.2: the body replaces the metadata, under the rules of registration. */
  update(request: { clientId: string; token: string | undefined; body: unknown; audit: AuditLog }): Promise<RegistrationResponse>
  /** RFC 7592 §2.3: the client goes, with its tokens, grants and consents. */
  remove(request: { clientId: string; token: string | undefined; audit: AuditLog }): Promise<void>
}

/** RFC 6750 §3.1 / RFC 7592 §2: one answer for a bad token and an unknown client, so neither is revealed. */
const badRegistrationToken = () => new OAuthError('invalid_token', 'the registration access token is not valid for this client')

/** What GET and PUT echo of a stored client (RFC 7592 §3). */
export function storedMetadata(client: Client): ClientMetadata {
  const method = AUTH_METHODS.find((m) => m === client.tokenEndpointAuthMethod)
  return {
    clientName: client.name,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris,
    tokenEndpointAuthMethod: method ?? (client.isPublic ? 'none' : 'client_secret_basic'),
    grantTypes: client.grantTypes,
    responseTypes: client.grantTypes.includes('authorization_code') ? ['code'] : [],
    scopes: client.scopes,
  }
}

export function registrations(deps: RegistrationDeps): Registrations {
  const { repos, clock, config } = deps
  const clientUri = (clientId: string) => `${deps.issuer}/register/${encodeURIComponent(clientId)}`

  /**
   * The rules for `mode`: REGISTRATION_SCOPES, less any the database lacks (a scope removed with
   * `scope remove`, or never added), so a client is registered with real scopes only.
   */
  const rules = async (scopes: Repositories['scopes'], mode: MetadataRules['mode']): Promise<MetadataRules> => {
    const known = new Set((await scopes.findByNames(config.scopes)).map((s) => s.name))
    return { mode, scopes: config.scopes.filter((name) => known.has(name)), grants: deps.grants }
  }

  const response = (client: Client, metadata: ClientMetadata, registrationToken: string, secret?: string): Record<string, unknown> => ({
    client_id: client.id,
    ...(secret === undefined ? {} : { client_secret: secret }),
    client_id_issued_at: Math.floor(client.createdAt / 1000),
    // RFC 7591 §3.2.1: required when a secret exists; 0 means it does not expire.
    ...(client.isPublic ? {} : { client_secret_expires_at: 0 }),
    ...metadataFields(metadata),
    registration_access_token: registrationToken,
    registration_client_uri: clientUri(client.id),
  })

  /**
   * RFC 7592 §1: the registration access token is good for this one client; compared as a hash
   * in constant time. Only self-registered clients are managed this way.
   */
  const authorize = async (clientId: string, token: string | undefined): Promise<Client> => {
    if (token === undefined) throw OAuthError.noCredentials('a registration access token is required')
    const client = await repos.clients.findById(clientId)
    const hash = client?.selfRegistered === true ? client.registrationTokenHash : undefined
    if (!client || !hash || !secretMatchesHash(token, hash)) throw badRegistrationToken()
    return client
  }

  /**
   * Only the hash is stored, so a read or update answers with a new registration access token
   * (RFC 7592 §3 allows it): the old one stops working, and of two concurrent uses one wins.
   */
  const reissue = async (clients: Repositories['clients'], client: Client): Promise<string> => {
    const token = randomToken(32)
    if (!(await clients.replaceRegistrationToken(client.id, client.registrationTokenHash as string, sha256Hex(token)))) throw badRegistrationToken()
    return token
  }

  return {
    async register({ body, initialAccessToken, ip, audit }) {
      const mode = config.mode === 'token' ? 'token' : 'open'
      const now = clock.now()
      // Every request counts, accepted or not: registration creates rows, so it is capped per address.
      const count = await repos.failureCounters.increment(registrationAddressKey(ip), now, REGISTRATION_WINDOW_MS)
      if (count.failures > config.limitPerAddress) {
        // RFC 9110 §10.2.3: whole seconds, at least 1.
        const retryAfterSeconds = Math.max(1, Math.ceil((count.expiresAt - now) / 1000))
        if (count.failures === config.limitPerAddress + 1) audit.record({ event: 'registration_throttled', retryAfterSeconds })
        throw OAuthError.tooManyFailures('too many registrations from this address; try again later', retryAfterSeconds)
      }
      if (mode === 'token' && initialAccessToken === undefined) throw OAuthError.noCredentials('an initial access token is required')
      // The global cap counts registrations, not requests: counted here, taken back if refused below.
      const maxPerHour = deps.maxRegistrationsPerHour ?? MAX_REGISTRATIONS_PER_HOUR
      const all = await repos.failureCounters.increment(REGISTRATIONS_KEY, now, REGISTRATION_WINDOW_MS)
      if (all.failures > maxPerHour) {
        const retryAfterSeconds = Math.max(1, Math.ceil((all.expiresAt - now) / 1000))
        if (all.failures === maxPerHour + 1) audit.record({ event: 'registration_throttled', limit: 'server', retryAfterSeconds })
        throw OAuthError.tooManyFailures('too many registrations on this server; try again later', retryAfterSeconds)
      }
      // Made before the transaction, used only if the client turns out confidential.
      const secret = randomToken(32)
      const registrationToken = randomToken(32)
      const client = await deps.transaction(async (tx) => {
        // RFC 7591 §3: the initial access token is checked first and spent with the registration:
        // a refused registration (any error below) rolls its spending back.
        if (mode === 'token' && !(await tx.initialAccessTokens.spend(sha256Hex(initialAccessToken as string), now))) {
          throw new OAuthError('invalid_token', 'the initial access token is not valid (unknown, used or expired)')
        }
        const metadata = parseMetadata(body, await rules(tx.scopes, mode))
        await refuseReservedOrigins(metadata, { clients: tx.clients, issuer: deps.issuer })
        const isPublic = metadata.tokenEndpointAuthMethod === 'none'
        const created: Client = {
          id: `lk_${randomToken(16)}`,
          name: metadata.clientName,
          secretHash: isPublic ? null : sha256Hex(secret),
          isPublic,
          redirectUris: metadata.redirectUris,
          postLogoutRedirectUris: metadata.postLogoutRedirectUris,
          grantTypes: metadata.grantTypes,
          scopes: metadata.scopes,
          audience: null,
          // Audiences are decided per request (oauth/audience.ts): DEFAULT_AUDIENCE or a registered resource server.
          resources: [],
          createdAt: now,
          selfRegistered: true,
          registrationTokenHash: sha256Hex(registrationToken),
          tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
        }
        await tx.clients.create(created)
        return { created, metadata }
      }).catch(async (error: unknown) => {
        await repos.failureCounters.decrement(REGISTRATIONS_KEY, now)
        throw error
      })
      const { created, metadata } = client
      const isPublic = created.isPublic
      audit.record({ event: 'client_registered', clientId: created.id, public: isPublic, grants: created.grantTypes, mode })
      return { status: 201, body: response(created, metadata, registrationToken, isPublic ? undefined : secret) }
    },

    async read({ clientId, token }) {
      const client = await authorize(clientId, token)
      return { status: 200, body: response(client, storedMetadata(client), await reissue(repos.clients, client)) }
    },

    async update({ clientId, token, body, audit }) {
      const client = await authorize(clientId, token)
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
        const fields = body as Record<string, unknown>
        // RFC 7592 §2.2: the request names the client, and may only repeat its current secret.
        if (fields.client_id !== client.id) throw new OAuthError('invalid_client_metadata', 'client_id must be this client\'s client_id')
        const secret = fields.client_secret
        if (secret !== undefined && (typeof secret !== 'string' || client.secretHash === null || !secretMatchesHash(secret, client.secretHash))) {
          throw new OAuthError('invalid_client_metadata', 'client_secret does not match: a client cannot choose its secret')
        }
      }
      // A client admitted as confidential (REGISTRATION=token) keeps those rules for its updates.
      const mode = client.isPublic && config.mode !== 'token' ? 'open' : 'token'
      // RFC 7592 §2.2: an omitted field goes back to its default, as at registration (the auth
      // method to the client's own, which cannot change kind).
      const metadata = parseMetadata(body, { ...(await rules(repos.scopes, mode)), defaultAuthMethod: storedMetadata(client).tokenEndpointAuthMethod })
      if ((metadata.tokenEndpointAuthMethod === 'none') !== client.isPublic) {
        throw new OAuthError('invalid_client_metadata', `token_endpoint_auth_method cannot change between none and a client secret (it is ${storedMetadata(client).tokenEndpointAuthMethod})`)
      }
      await refuseReservedOrigins(metadata, { clients: repos.clients, issuer: deps.issuer })
      // The new token and the new metadata land together, or neither does.
      const registrationToken = await deps.transaction(async (tx) => {
        const issued = await reissue(tx.clients, client)
        await tx.clients.update(client.id, {
          name: metadata.clientName,
          redirectUris: metadata.redirectUris,
          postLogoutRedirectUris: metadata.postLogoutRedirectUris,
          grantTypes: metadata.grantTypes,
          scopes: metadata.scopes,
          tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod satisfies AuthMethod,
        })
        return issued
      })
      audit.record({ event: 'client_registration_updated', clientId: client.id })
      const updated: Client = { ...client, name: metadata.clientName, redirectUris: metadata.redirectUris, postLogoutRedirectUris: metadata.postLogoutRedirectUris, grantTypes: metadata.grantTypes, scopes: metadata.scopes }
      return { status: 200, body: response(updated, metadata, registrationToken) }
    },

    async remove({ clientId, token, audit }) {
      const client = await authorize(clientId, token)
      // Spends the token first, so a token a concurrent read has just replaced cannot delete.
      await reissue(repos.clients, client)
      await repos.clients.remove(client.id, clock.now())
      audit.record({ event: 'client_registration_deleted', clientId: client.id })
    },
  }
}

/** Records that a token was issued to a self-registered client, at most once per LAST_USED_GRANULARITY_MS (none for others). */
export function clientUseRecorder(deps: { clients: Pick<Repositories['clients'], 'markUsed'>; clock: Clock }) {
  return async (client: Client): Promise<void> => {
    if (client.selfRegistered !== true) return
    const now = deps.clock.now()
    if (client.lastUsedAt != null && now - client.lastUsedAt < LAST_USED_GRANULARITY_MS) return
    await deps.clients.markUsed(client.id, now)
  }
}
