import type { LightMyRequestResponse } from 'fastify'
import { createRegistrationToken } from '../../src/admin/registration-tokens.js'
import { NO_AUDIT } from '../../src/audit.js'
import type { TestApp } from './app.js'

/** A public client's registration request (RFC 7591 §3.1), as an agent would send it. */
export const PUBLIC_APP = { client_name: 'Photo Agent', redirect_uris: ['https://agent.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'] }

/** POST /register with a JSON body (a string is sent as it is). */
export function register(ctx: TestApp, body: unknown, headers: Record<string, string> = {}, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method: 'POST',
    url: '/register',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  })
}

/** An RFC 7592 request at /register/:client_id with the registration access token, if any. */
export function manage(ctx: TestApp, method: 'GET' | 'PUT' | 'DELETE', clientId: string, token?: string, body?: unknown): Promise<LightMyRequestResponse> {
  return ctx.app.inject({
    method,
    url: `/register/${clientId}`,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  })
}

/** A fresh initial access token, as `registration-token create` makes one. */
export async function initialToken(ctx: TestApp, expiresIn?: string): Promise<string> {
  return (await createRegistrationToken({ initialAccessTokens: ctx.repos.initialAccessTokens, clock: ctx.clock, audit: NO_AUDIT }, { expiresIn })).token
}
