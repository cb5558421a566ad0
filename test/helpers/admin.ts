import type { FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { addClient } from '../../src/admin/clients.js'
import { NO_AUDIT } from '../../src/audit.js'
import { buildTestApp, type TestApp } from './app.js'
import type { DialectCase } from './db.js'
import { basic, exchange } from './oauth.js'

export const ADMIN_ENV = { ADMIN_API: 'on' }

/** The admin API's audience for a test app. */
export function adminAudienceOf(ctx: TestApp): string {
  return `${ctx.config.issuer}/admin/v1`
}

/** An app with the admin API on. */
export async function buildAdminApp(t: Test, options: { dialect?: DialectCase; logger?: FastifyServerOptions['logger'] } = {}): Promise<TestApp> {
  return buildTestApp(t, { env: ADMIN_ENV, ...options })
}

/** Registers an admin client (as `client add --admin` does) and returns it with its secret. */
export async function addAdminClient(ctx: TestApp, input: { scope?: string } = {}): Promise<{ client_id: string; client_secret: string }> {
  const added = await addClient(
    { clients: ctx.repos.clients, scopes: ctx.repos.scopes, clock: ctx.clock, audit: NO_AUDIT, issuer: ctx.config.issuer },
    { name: 'Ops', admin: true, scope: input.scope },
  )
  return { client_id: added.client_id, client_secret: added.client_secret as string }
}

/** A client credentials token from /token, as an operator's script gets one. */
export async function clientToken(ctx: TestApp, client: { client_id: string; client_secret: string }, form: Record<string, string> = {}): Promise<string> {
  const res = await exchange(ctx.app, { grant_type: 'client_credentials', ...form }, { authorization: basic(client.client_id, client.client_secret) })
  if (res.statusCode !== 200) throw new Error(`no token: ${res.statusCode} ${res.body}`)
  return (res.json() as { access_token: string }).access_token
}

/** A fresh admin client and its token. */
export async function adminToken(ctx: TestApp): Promise<{ token: string; client: { client_id: string; client_secret: string } }> {
  const client = await addAdminClient(ctx)
  return { token: await clientToken(ctx, client), client }
}

/** A call to the admin API with a bearer token (and a JSON body when given). */
export function adminCall(ctx: TestApp, token: string | undefined, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method,
    url: `/admin/v1${url}`,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  })
}
