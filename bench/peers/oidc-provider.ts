import { createServer } from 'node:http'
import Provider from 'oidc-provider'
import { readPeerEnv } from './peer-env.js'

// The peer: node-oidc-provider with one confidential client (client_secret_basic,
// client_credentials) and resource indicators, so that client_credentials issues a JWT access
// token for the default resource, signed with the harness's key. Its default in-memory adapter
// stores what it stores (a JWT access token is not stored).

const env = readPeerEnv(process.env)
const SCOPE = 'bench:read'

const provider = new Provider(env.issuer, {
  clients: [
    {
      client_id: env.clientId,
      client_secret: env.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
      // Client metadata is validated against the keys: without an RS256 key, RS256 (the
      // default) is refused, though this client never gets an ID token.
      id_token_signed_response_alg: env.privateJwk.alg,
    },
  ],
  jwks: { keys: [env.privateJwk] },
  scopes: [SCOPE],
  ttl: { ClientCredentials: 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => env.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, resource: string) => {
        if (resource !== env.audience) throw new Error(`unknown resource ${resource}`)
        return {
          scope: SCOPE,
          audience: env.audience,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: env.privateJwk.alg } },
        }
      },
    },
  },
})

createServer(provider.callback()).listen(env.port, '127.0.0.1')
