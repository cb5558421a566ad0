import type { FastifyPluginAsync } from 'fastify'
import { createIntrospector, type IntrospectionOptions } from './introspection.js'
import { ASYMMETRIC_ALGORITHMS, KeySet } from './key-set.js'
import { createAuthenticate, type Authenticate } from './authenticate.js'
import { createPlugin, createRequireScope, type BearerHook } from './plugin.js'
import { createResourceMetadata, type ResourceMetadataOptions, type ResourceMetadataResponse } from './resource-metadata.js'
import { createTokenVerifier, type AccessTokenClaims } from './verify.js'

export { bearerToken, type Authenticate, type AuthenticationResult } from './authenticate.js'
export { BearerError, type BearerErrorBody, type BearerErrorCode } from './errors.js'
export type { BearerHook } from './plugin.js'
export { resourceMetadataUrl, type ProtectedResourceMetadata, type ResourceMetadataOptions, type ResourceMetadataResponse } from './resource-metadata.js'
export { hasScopes, type AccessTokenClaims } from './verify.js'
export type { IntrospectionOptions } from './introspection.js'

export interface ResourceServerOptions {
  /** The authorization server's issuer identifier, compared exactly with `iss`. */
  issuer: string
  /** This resource server's identifier: tokens must name it in `aud`. Also the challenge's realm. */
  audience: string
  /** Where the keys are; default: `jwks_uri` from the issuer's RFC 8414 metadata. */
  jwksUri?: string
  /**
   * The JWS algorithms tokens may be signed with; default ['RS256']. Asymmetric ones only
   * (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA): `none` and HS* throw (RFC 8725 §3.1).
   * latchkey publishes its list as `access_token_signing_alg_values_supported`.
   */
  algorithms?: readonly string[]
  /** Seconds of leeway on `exp` and `nbf`; default 5. */
  clockTolerance?: number
  /** Also ask the issuer (RFC 7662) whether each locally valid token is still active. */
  introspect?: IntrospectionOptions
  /** Least time between two JWKS fetches; default 30 000 ms. */
  jwksCooldownMs?: number
  /** Age after which the JWKS is refetched in the background; default 600 000 ms. */
  jwksMaxAgeMs?: number
  /** Timeout of each request to the issuer; default 5 000 ms. */
  fetchTimeoutMs?: number
  /** Milliseconds since the epoch; default Date.now. For tests. */
  clock?: () => number
  /**
   * RFC 9728 protected-resource metadata, served at the well-known URL of `resource` (default:
   * the audience, which must then be an https URL) and named in every challenge. false: none.
   */
  resourceMetadata?: ResourceMetadataOptions | false
}

export interface ResourceServer {
  /** The verified claims, or a rejected promise with a BearerError. */
  verify(token: string): Promise<AccessTokenClaims>
  /** Decorates requests with `auth` and serves the metadata document; not encapsulated, register it without a prefix. */
  plugin: FastifyPluginAsync
  /** A hook that authenticates the request and demands every scope named (none: any valid token). */
  requireScope(...scopes: string[]): BearerHook
  /**
   * For node:http, Express and the like: checks an `Authorization` header value and the scopes
   * it must grant. Resolves to the claims, or to the status, headers and JSON body to answer.
   */
  authenticate: Authenticate
  /** The RFC 9728 metadata document and its path, to serve on GET; undefined with `resourceMetadata: false`. */
  metadata(): ResourceMetadataResponse | undefined
  /** Loads the keys now; rejects with a 503 BearerError if they cannot be loaded. */
  ready(): Promise<void>
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`)
  return value
}

/**
 * RFC 8725 §3.1: the verifier pins its algorithms. A symmetric one would let anyone holding the
 * published public key forge tokens (HS256 keyed with it), and `none` needs no key at all.
 */
function algorithmsOption(value: readonly string[] | undefined): string[] {
  if (value === undefined) return ['RS256']
  if (!Array.isArray(value) || value.length === 0) throw new TypeError('algorithms must be a non-empty array')
  for (const alg of value) {
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.includes(alg)) {
      throw new TypeError(`algorithms: ${JSON.stringify(alg)} is not accepted; use asymmetric JWS algorithms only (${ASYMMETRIC_ALGORITHMS.join(', ')}), never none or HMAC (RFC 8725 §3.1)`)
    }
  }
  return [...new Set(value)]
}

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const { issuer, audience } = options
  if (!URL.canParse(issuer)) throw new TypeError('issuer must be a URL')
  if (typeof audience !== 'string' || audience === '') throw new TypeError('audience must be a non-empty string')
  if (options.jwksUri !== undefined && !URL.canParse(options.jwksUri)) throw new TypeError('jwksUri must be a URL')
  const timeoutMs = nonNegative('fetchTimeoutMs', options.fetchTimeoutMs, 5_000)
  const algorithms = algorithmsOption(options.algorithms)

  const keys = new KeySet({
    issuer,
    algorithms,
    jwksUri: options.jwksUri,
    cooldownMs: nonNegative('jwksCooldownMs', options.jwksCooldownMs, 30_000),
    maxAgeMs: nonNegative('jwksMaxAgeMs', options.jwksMaxAgeMs, 600_000),
    timeoutMs,
    clock: options.clock ?? Date.now,
  })
  const verifyLocally = createTokenVerifier({
    issuer,
    audience,
    clockTolerance: nonNegative('clockTolerance', options.clockTolerance, 5),
    algorithms,
    keys,
    clock: options.clock,
  })

  let verify = verifyLocally
  if (options.introspect !== undefined) {
    const { endpoint } = options.introspect
    const introspect = createIntrospector(
      options.introspect,
      () => endpoint ?? keys.introspectionEndpoint ?? `${issuer}/introspect`,
      timeoutMs,
    )
    // Local checks first: a forged or expired token never reaches the issuer.
    verify = async (token) => {
      const claims = await verifyLocally(token)
      await introspect(token)
      return claims
    }
  }

  const metadata = options.resourceMetadata === false
    ? undefined
    : createResourceMetadata(options.resourceMetadata ?? {}, audience, issuer)
  const noteScopes = metadata === undefined ? () => {} : metadata.noteScopes
  const authenticate = createAuthenticate({ verify, realm: audience, resourceMetadataUrl: metadata?.url })

  return {
    verify,
    plugin: createPlugin(metadata),
    requireScope: createRequireScope(authenticate, noteScopes),
    authenticate,
    metadata: () => metadata?.response(),
    ready: () => keys.ready(),
  }
}
