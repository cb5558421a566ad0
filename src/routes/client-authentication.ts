import type { FastifyRequest } from 'fastify'
import { loggableClientId, type ClientAuthFailureLimit } from '../accounts/failure-limits.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { authenticateClient, clientCredentials, type ClientCredentials } from '../oauth/client-auth.js'
import type { Params } from '../oauth/params.js'
import type { Client, ClientRepository } from '../storage/clients.js'

/** Client authentication at /token, /revoke and /introspect, with its limit on failures. */
export type ClientAuthenticator = (request: FastifyRequest, params: Params) => Promise<Client>

/**
 * The credentials are checked first, with no database write: a correct secret costs one lookup
 * and is never refused. Only a failed authentication (unknown client_id, wrong or missing
 * secret, malformed Basic) is counted, per client_id and address, and past the limit it is
 * answered 429 instead of 401.
 */
export function clientAuthenticator(deps: { clients: ClientRepository; failures: ClientAuthFailureLimit; clock: Clock }): ClientAuthenticator {
  return async (request, params) => {
    let known: Client | undefined
    try {
      const credentials: ClientCredentials = clientCredentials({ authorization: request.headers.authorization, params })
      known = await deps.clients.findById(credentials.clientId)
      return authenticateClient(credentials, known, deps.clock.now())
    } catch (error) {
      if (!(error instanceof OAuthError) || error.code !== 'invalid_client') throw error
      // Failures for a registered client are counted under its client_id and this address; an
      // unknown or unreadable client_id under none, so inventing client_ids adds no rows.
      const clientId = known?.id ?? ''
      const refusal = await deps.failures.failed({ clientId, ip: request.ip })
      // Every failure up to the limit, then the first refusal of the window: a flood of guesses
      // costs the log no more than the limit allows.
      if (refusal === undefined || refusal.first) {
        request.audit.record({ event: 'client_auth_failed', clientId: loggableClientId(clientId), throttled: refusal !== undefined })
      }
      if (refusal) throw OAuthError.tooManyFailures('too many failed client authentications from this address; try again later', refusal.retryAfterSeconds)
      throw error
    }
  }
}
