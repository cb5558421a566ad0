import type { AuditLog } from '../audit.js'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { OAuthError } from '../errors.js'
import { Params } from '../oauth/params.js'
import type { Client } from '../storage/clients.js'
import type { ClientAuthenticator } from './client-authentication.js'
import { allowClientOrigin, BROWSER_CLIENT_ENDPOINTS } from './client-cors.js'
import { acceptMediaTypes, refuseOtherMethods } from './route-rules.js'

export interface ClientRequest {
  params: Params
  client: Client
  /** The request's audit log. */
  audit: AuditLog
}

export interface ClientEndpointOptions {
  url: string
  /** Client authentication and its limit on failures, as at /token. */
  authenticate: ClientAuthenticator
  /** Refuse public clients, which cannot authenticate (RFC 7662 §2.1). */
  confidentialOnly: boolean
  handle(request: ClientRequest, reply: FastifyReply): Promise<unknown>
}

export type TokenTypeHint = 'access_token' | 'refresh_token'

/**
 * RFC 7009 §2.1, RFC 7662 §2.1: the hint decides which lookup comes first; an unknown hint is
 * ignored and every kind is still tried.
 */
export function lookupOrder(hint: string | undefined): TokenTypeHint[] {
  return hint === 'access_token' ? ['access_token', 'refresh_token'] : ['refresh_token', 'access_token']
}

/** Only form bodies (RFC 7009 §2.1, RFC 7662 §2.1). */
const formOnly = acceptMediaTypes('application/x-www-form-urlencoded')

/**
 * A POST endpoint where a client presents a token, as /revoke and /introspect are: form body,
 * duplicates refused, the client authenticated as at /token, JSON errors, 405 for other methods.
 */
export function clientEndpoint(app: FastifyInstance, options: ClientEndpointOptions): void {
  const { url, authenticate, confidentialOnly, handle } = options
  const cors = BROWSER_CLIENT_ENDPOINTS.has(url)
  const config = { errorFormat: 'json' as const }
  app.post(url, { config, preParsing: formOnly }, async (request, reply) => {
    const params = new Params(request.body)
    params.rejectRepeated()
    // Client secrets are checked here too, so they get /token's limit on failures (OAuth 2.1 §2.4.1).
    const client = await authenticate(request, params)
    if (cors) allowClientOrigin(request, reply, client)
    if (confidentialOnly && client.isPublic) {
      throw OAuthError.invalidClient('a public client cannot authenticate here')
    }
    return handle({ params, client, audit: request.audit }, reply)
  })
  refuseOtherMethods(app, url, ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST')
}

/** The required `token` parameter. */
export function requiredToken(params: Params): string {
  const token = params.get('token')
  if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
  return token
}
