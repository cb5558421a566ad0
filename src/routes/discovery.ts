import type { FastifyPluginAsync } from 'fastify'
import { ACR_VALUES_SUPPORTED } from '../oauth/auth-methods.js'
import type { Config } from '../config.js'
import type { GrantDescriptor } from '../grants/grant.js'
import { DEVICE_CODE_GRANT } from '../oauth/device-flow.js'
import { USER_SCOPES } from '../oauth/scope.js'

/** RFC 8414 and OpenID Connect Discovery metadata: only what latchkey implements. */
export function discoveryDocument(config: Config, grants: readonly GrantDescriptor[], uiLocales: readonly string[]): Record<string, unknown> {
  const url = (path: string) => `${config.issuer}${path}`
  return {
    issuer: config.issuer,
    authorization_endpoint: url('/authorize'),
    token_endpoint: url('/token'),
    jwks_uri: url('/.well-known/jwks.json'),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    // Every grant latchkey serves; each client uses only those it is registered for.
    grant_types_supported: grants.map((grant) => grant.type),
    // RFC 9700 §2.1.1: clients can detect PKCE support; plain is refused.
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    // RFC 8628 §4: while the device grant is served.
    ...(grants.some((grant) => grant.type === DEVICE_CODE_GRANT) ? { device_authorization_endpoint: url('/device_authorization') } : {}),
    // RFC 7009 §2.1: a public client revokes its own tokens with its client_id alone.
    revocation_endpoint: url('/revoke'),
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    // RFC 7662 §2.1: introspection needs an authenticated client.
    introspection_endpoint: url('/introspect'),
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // RFC 9207: every authorization response carries iss.
    authorization_response_iss_parameter_supported: true,
    // OpenID Connect Discovery 1.0 §3.
    userinfo_endpoint: url('/userinfo'),
    end_session_endpoint: url('/logout'),
    scopes_supported: [...USER_SCOPES],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    // Not registered metadata (RFC 8414 §2 allows others): what access tokens (RFC 9068) are
    // signed with, RS256 and SIGNING_ALG, for a resource server to pin its algorithms to.
    access_token_signing_alg_values_supported: [...new Set(['RS256', config.signingAlg])],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'name', 'preferred_username', 'email', 'email_verified', 'acr', 'amr'],
    // OIDC Discovery §3: one factor, or two (or a passkey); acr_values asks for one of them.
    acr_values_supported: [...ACR_VALUES_SUPPORTED],
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
    // The languages of the login, consent, error and logout pages (one file each in locales/).
    ui_locales_supported: [...uiLocales],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    // Its default is true, so say so.
    request_uri_parameter_supported: false,
    // RFC 8414 §2 / RFC 7591: only while REGISTRATION is open or token.
    ...(config.registration.mode === 'off' ? {} : { registration_endpoint: url('/register') }),
  }
}

export const discoveryRoute: FastifyPluginAsync<{ config: Config; grants: readonly GrantDescriptor[]; uiLocales: readonly string[] }> = async (
  app,
  { config, grants, uiLocales },
) => {
  const document = discoveryDocument(config, grants, uiLocales)
  const handler = async (_request: unknown, reply: { header(name: string, value: string): unknown }) => {
    reply.header('cache-control', 'public, max-age=300')
    return document
  }
  // RFC 8414 §3 and OIDC Discovery serve the same values (RFC 9068 §4: they must agree).
  app.get('/.well-known/oauth-authorization-server', handler)
  app.get('/.well-known/openid-configuration', handler)
}
