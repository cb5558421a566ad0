import type { FastifyPluginAsync } from 'fastify'
import { OAuthError } from '../errors.js'
import type { Grant } from '../grants/grant.js'
import type { Client } from '../storage/clients.js'
import { parseJsonParams } from '../oauth/json-body.js'
import { Params } from '../oauth/params.js'
import type { ClientAuthenticator } from './client-authentication.js'
import { allowClientOrigin } from './client-cors.js'
import { acceptMediaTypes, refuseOtherMethods } from './route-rules.js'

export interface TokenRouteOptions {
  /** Client authentication and its limit on failures (built once in app.ts). */
  authenticate: ClientAuthenticator
  grants: Map<string, Grant>
  /** After tokens are issued: records a self-registered client's use (a no-op for any other). */
  recordUse: (client: Client) => Promise<void>
}

export const tokenRoute: FastifyPluginAsync<TokenRouteOptions> = async (app, { authenticate, grants, recordUse }) => {
  const config = { errorFormat: 'json' as const }
  // JSON bodies (first-party SDKs) under the form's rules: string values, no repeated keys.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonParams(body as string))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  // OAuth 2.1 §3.2.3: every answer, errors included, is no-store (the app's onSend hook).
  const preParsing = acceptMediaTypes('application/x-www-form-urlencoded', 'application/json')
  app.post('/token', { config, preParsing }, async (request, reply) => {
    const params = new Params(request.body)
    params.rejectRepeated()
    const client = await authenticate(request, params)
    allowClientOrigin(request, reply, client)
    const grantType = params.get('grant_type')
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    const grant = grants.get(grantType)
    if (!grant) throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported`)
    if (!client.grantTypes.includes(grant.type)) {
      throw new OAuthError('unauthorized_client', `the client is not registered for the ${grant.type} grant`)
    }
    // Registration refuses a public client such a grant; refuse one whose record names it too.
    if (grant.confidentialOnly && client.isPublic) {
      throw new OAuthError('unauthorized_client', `the ${grant.type} grant is for confidential clients only`)
    }
    const response = await grant.handle({ params, audit: request.audit, grantType: grant.type, ip: request.ip }, client)
    await recordUse(client)
    return response
  })
  refuseOtherMethods(app, '/token', ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST')
}
