import type { FastifyPluginAsync } from 'fastify'
import { tooManyDeviceAuthorizations, type DeviceAuthorizations } from '../authorization/device.js'
import { OAuthError } from '../errors.js'
import { resolveAudience } from '../oauth/audience.js'
import { DEVICE_CODE_GRANT } from '../oauth/device-flow.js'
import { Params } from '../oauth/params.js'
import { resolveScope } from '../oauth/scope.js'
import type { ScopeRepository } from '../storage/scopes.js'
import type { ClientAuthenticator } from './client-authentication.js'
import { acceptMediaTypes, refuseOtherMethods } from './route-rules.js'

export interface DeviceAuthorizationRouteOptions {
  /** Client authentication and its limit on failures, as at /token. */
  authenticate: ClientAuthenticator
  devices: DeviceAuthorizations
  scopes: ScopeRepository
  issuer: string
  defaultAudience: string
}

/** Where the user goes to enter the code (RFC 8628 §3.2 verification_uri). */
export function verificationUri(issuer: string): string {
  return `${issuer}/device`
}

/**
 * The device authorization endpoint (RFC 8628 §3.1, §3.2): a client registered for the device
 * code grant gets a device code to poll /token with and a user code for the person to enter at
 * verification_uri. Client authentication, scope and resource as at /token and /authorize;
 * errors in /token's JSON form.
 */
export const deviceAuthorizationRoute: FastifyPluginAsync<DeviceAuthorizationRouteOptions> = async (app, options) => {
  const { authenticate, devices } = options
  const config = { errorFormat: 'json' as const }
  const preParsing = acceptMediaTypes('application/x-www-form-urlencoded')
  app.post('/device_authorization', { config, preParsing }, async (request) => {
    const params = new Params(request.body)
    params.rejectRepeated()
    const client = await authenticate(request, params)
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
      throw new OAuthError('unauthorized_client', `the client is not registered for the ${DEVICE_CODE_GRANT} grant`)
    }
    // As at /authorize: none asked means the client's registered scopes; each must still exist.
    const scopes = resolveScope(params.get('scope'), client.scopes)
    const known = await options.scopes.findByNames(scopes)
    if (known.length !== scopes.length) throw new OAuthError('invalid_scope', 'unknown scope')
    const resource = resolveAudience(params.get('resource'), client.resources, options.defaultAudience)
    const started = await devices.start({ clientId: client.id, scopes, resource, clientAddress: request.ip })
    if ('refused' in started) {
      const { retryAfterSeconds } = started.refused
      request.audit.record({ event: 'authorize_throttled', limit: 'open_device_authorizations', retryAfterSeconds })
      throw tooManyDeviceAuthorizations(retryAfterSeconds)
    }
    request.audit.record({ event: 'device_authorization_started', clientId: client.id, network: started.network, deviceAuthorizationId: started.id })
    const uri = verificationUri(options.issuer)
    // RFC 8628 §3.3.1: the complete URI only fills the code in; the user still signs in and
    // approves on the consent page. Cache-Control: no-store comes from the onSend hook.
    return {
      device_code: started.deviceCode,
      user_code: started.userCode,
      verification_uri: uri,
      verification_uri_complete: `${uri}?user_code=${encodeURIComponent(started.userCode)}`,
      expires_in: started.expiresInSeconds,
      interval: started.intervalSeconds,
    }
  })
  refuseOtherMethods(app, '/device_authorization', ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST')
}
