import fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import {
  createResourceServer,
  type ResourceServer,
  type ResourceServerOptions,
} from '../../src/resource-server/index.js'

export interface ProtectedApp {
  app: FastifyInstance
  rs: ResourceServer
}

/**
 * A fastify app guarded by a resource server: GET /me needs any valid token, GET /sources
 * needs `source:w`, GET /open needs nothing. Each answers with `request.auth`.
 */
export async function protectedApp(t: Test, options: ResourceServerOptions): Promise<ProtectedApp> {
  const rs = createResourceServer(options)
  const app = fastify()
  await app.register(rs.plugin)
  app.get('/me', { preHandler: rs.requireScope() }, async (request) => request.auth)
  app.get('/sources', { preHandler: rs.requireScope('source:w') }, async (request) => request.auth)
  app.get('/open', async (request) => ({ auth: request.auth }))
  t.teardown(() => app.close())
  return { app, rs }
}

/** GET `url` with `Authorization: Bearer <token>` (no header when token is undefined). */
export function getWithToken(app: FastifyInstance, token: string | undefined, url = '/me'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
}

export interface ExpectedRefusal {
  status: 400 | 401 | 403 | 503
  realm: string
  /** undefined: the challenge must name no error (no credentials were sent). */
  error?: string
  description: string
  scope?: string
  /**
   * The challenge's RFC 9728 `resource_metadata`; default: the well-known URL of the realm
   * (the audience, a URL in most tests); null: none (`resourceMetadata: false`).
   */
  resourceMetadata?: string | null
}

/** `<origin>/.well-known/oauth-protected-resource<path>`: test/resource-server/resource-metadata.test.ts checks the cases literally. */
function wellKnownOf(realm: string): string {
  const { origin, pathname } = new URL(realm)
  return `${origin}/.well-known/oauth-protected-resource${pathname === '/' ? '' : pathname}`
}

/** Asserts the status, the exact RFC 6750 challenge and the JSON body of a refusal. */
export function assertRefused(t: Test, response: LightMyRequestResponse, expected: ExpectedRefusal): void {
  t.equal(response.statusCode, expected.status, 'status')
  t.match(response.headers['content-type'], /^application\/json/, 'JSON body')
  if (expected.status === 503) {
    t.equal(response.headers['www-authenticate'], undefined, 'no challenge on 503')
    t.same(response.json(), { error: 'temporarily_unavailable', error_description: expected.description }, 'body')
    return
  }
  let challenge = `Bearer realm="${expected.realm}"`
  if (expected.error !== undefined) {
    challenge += `, error="${expected.error}", error_description="${expected.description}"`
  }
  if (expected.scope !== undefined) challenge += `, scope="${expected.scope}"`
  const resourceMetadata = expected.resourceMetadata === undefined ? wellKnownOf(expected.realm) : expected.resourceMetadata
  if (resourceMetadata !== null) challenge += `, resource_metadata="${resourceMetadata}"`
  t.equal(response.headers['www-authenticate'], challenge, 'WWW-Authenticate')
  const body = expected.error === undefined
    ? { error_description: expected.description }
    : { error: expected.error, error_description: expected.description }
  t.strictSame(response.json(), body, 'body')
}

/** Asserts a 200 whose body holds the token's claims. */
export function assertAccepted(t: Test, response: LightMyRequestResponse, claims: Record<string, unknown> = {}): void {
  t.equal(response.statusCode, 200, 'status')
  t.match(response.json(), claims, 'claims')
}

/** A clock the test moves by hand (milliseconds). */
export function manualClock(start = Date.now()): { now: () => number; advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms) => void (time += ms) }
}
