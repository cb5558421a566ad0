import type { FastifyPluginAsync } from 'fastify'
import type { Config } from '../config.js'

/** RFC 8414 metadata: only what latchkey implements today. */
export function discoveryDocument(config: Config): Record<string, unknown> {
  const url = (path: string) => `${config.issuer}${path}`
  return {
    issuer: config.issuer,
    jwks_uri: url('/.well-known/jwks.json'),
    // RFC 8414 §2: REQUIRED; no authorization endpoint exists yet, so no response type.
    response_types_supported: [],
    grant_types_supported: [],
  }
}

export const discoveryRoute: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const document = discoveryDocument(config)
  const handler = async (_request: unknown, reply: { header(name: string, value: string): unknown }) => {
    reply.header('cache-control', 'public, max-age=300')
    return document
  }
  // RFC 8414 §3 and OIDC Discovery serve the same values (RFC 9068 §4: they must agree).
  app.get('/.well-known/oauth-authorization-server', handler)
  app.get('/.well-known/openid-configuration', handler)
}
