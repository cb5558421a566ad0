import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { addClient, type AddClientInput } from '../../src/admin/clients.js'
import { addUser } from '../../src/admin/users.js'
import { s256 } from '../../src/oauth/pkce.js'
import type { TestApp } from './app.js'
import { Browser, hiddenInputs } from './browser.js'
import { testPasswords } from './passwords.js'
import { NO_AUDIT } from '../../src/audit.js'

export const PASSWORD = 'correct horse battery'

export interface Pkce {
  verifier: string
  challenge: string
}

export function newPkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: s256(verifier) }
}

export async function createUser(ctx: TestApp, username = 'alice'): Promise<{ id: string; username: string }> {
  return addUser({ users: ctx.repos.users, passwords: testPasswords, clock: ctx.clock, audit: NO_AUDIT }, { username, password: PASSWORD })
}

export async function createClient(
  ctx: TestApp,
  input: Partial<AddClientInput> = {},
): Promise<{ client_id: string; client_secret?: string; redirectUri: string }> {
  const redirectUris = input.redirectUris ?? ['https://app.example.com/cb']
  const added = await addClient(
    { clients: ctx.repos.clients, scopes: ctx.repos.scopes, clock: ctx.clock, audit: NO_AUDIT },
    { name: 'Example App', ...input, redirectUris },
  )
  return { ...added, redirectUri: redirectUris[0] as string }
}

export function authorizeUrl(params: Record<string, string | undefined>): string {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.append(k, v)
  return `/authorize?${query.toString()}`
}

/** The standard request parameters for a client, with a fresh PKCE pair. */
export function codeRequest(client: { client_id: string; redirectUri: string }, extra: Record<string, string | undefined> = {}) {
  const pkce = newPkce()
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirectUri,
    state: 'xyz-state',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...extra,
  }
  return { pkce, url: authorizeUrl(params) }
}

/** Query parameters of a redirect response's Location. */
export function redirectParams(res: LightMyRequestResponse): URLSearchParams {
  return new URL(res.headers.location as string).searchParams
}

export async function signIn(browser: Browser, page: LightMyRequestResponse, username = 'alice', password = PASSWORD) {
  return browser.post('/authorize/login', { ...hiddenInputs(page.body, '/authorize/login'), username, password })
}

export async function decide(browser: Browser, page: LightMyRequestResponse, decision: 'allow' | 'deny') {
  return browser.post('/authorize/consent', { ...hiddenInputs(page.body, '/authorize/consent'), decision })
}

/** Runs login and consent in a fresh browser; returns the code and the PKCE verifier. */
export async function obtainCode(
  ctx: TestApp,
  client: { client_id: string; redirectUri: string },
  extra: Record<string, string | undefined> = {},
  browser = new Browser(ctx.app),
): Promise<{ code: string; verifier: string; browser: Browser }> {
  const { pkce, url } = codeRequest(client, extra)
  let res = await browser.get(url)
  if (res.statusCode === 200 && res.body.includes('action="/authorize/login"') && res.body.includes('name="password"')) {
    res = await signIn(browser, res)
  }
  if (res.statusCode === 200) res = await decide(browser, res, 'allow')
  const code = redirectParams(res).get('code')
  if (!code) throw new Error(`no code: ${res.statusCode} ${res.headers.location ?? res.body}`)
  return { code, verifier: pkce.verifier, browser }
}

export function exchange(app: FastifyInstance, form: Record<string, string>, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(form).toString(),
  })
}

export function basic(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
}

export async function verifyAccessToken(ctx: TestApp, token: string) {
  const jwks = createLocalJWKSet(ctx.keys.jwks())
  return jwtVerify<JWTPayload & Record<string, unknown>>(token, jwks, {
    issuer: ctx.config.issuer,
    typ: 'at+jwt',
    algorithms: ['RS256'],
    currentDate: new Date(ctx.clock.now()),
  })
}
