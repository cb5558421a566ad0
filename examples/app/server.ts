/**
 * The latchkey example app: a server-side web app (a "confidential client") that signs its users
 * in with latchkey through openid-client, the certified OpenID Connect relying-party library.
 *
 *   npx latchkey demo          # once: registers this app, writes examples/.demo-client.json
 *   npm run resource-server    # the demo API it calls (port 4000)
 *   npm run example            # this app, on http://localhost:5000
 *
 * It stands alone: nothing here imports latchkey. Every step is what any OAuth 2.0 / OIDC
 * provider expects, so it is a template for your own app. The tokens stay on this server, in
 * an in-memory session; the browser holds only an opaque, HttpOnly session cookie.
 *
 * Environment: ISSUER (default: the client file's), PORT (default: the redirect URI's port),
 * HOST (127.0.0.1), API_URL (the demo API, http://localhost:4000), CLIENT_FILE
 * (examples/.demo-client.json).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as oidc from 'openid-client'
import { newSession, readSession, renewSession, sessionCookie, type Session, checkCsrf } from './session.js'
import { page, escapeHtml, json } from './html.js'

interface ClientFile {
  issuer: string
  client_id: string
  client_secret: string
  redirect_uri: string
  post_logout_redirect_uri: string
  scope: string
  resource?: string
}

const env = process.env
const clientFile = env.CLIENT_FILE ?? fileURLToPath(new URL('../.demo-client.json', import.meta.url))

function loadClient(): ClientFile {
  try {
    return JSON.parse(readFileSync(clientFile, 'utf8')) as ClientFile
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(error as Error).message}`
    process.stderr.write(`example app: ${clientFile} ${reason}.\nRun "npx latchkey demo" first: it registers this app with latchkey and writes that file.\n`)
    process.exit(1)
  }
}

let client = loadClient()
let clientFileVersion = statSync(clientFile).mtimeMs
const issuer = new URL(env.ISSUER ?? client.issuer)
const appUrl = new URL(client.redirect_uri).origin
const registeredPort = new URL(client.redirect_uri).port || (appUrl.startsWith('https:') ? '443' : '80')
const port = Number(env.PORT ?? registeredPort)
const apiUrl = env.API_URL ?? 'http://localhost:4000'
if (String(port) !== registeredPort) {
  process.stderr.write(`example app: PORT=${port}, but the redirect URI registered with latchkey is ${client.redirect_uri}.\nRun "npx latchkey demo --app-url http://localhost:${port}" to register this port.\n`)
  process.exit(1)
}

// Step 0, discovery: the issuer's metadata (endpoints, signing keys) from
// /.well-known/openid-configuration. Done on first use and kept, so the app may start before
// latchkey does; a failure is retried on the next request.
let configuration: Promise<oidc.Configuration> | undefined
function provider(): Promise<oidc.Configuration> {
  // A rerun of `npx latchkey demo` gives the client a new secret: pick it up without a restart.
  const version = statSync(clientFile, { throwIfNoEntry: false })?.mtimeMs
  if (version !== undefined && version !== clientFileVersion) {
    client = loadClient()
    clientFileVersion = version
    configuration = undefined
  }
  configuration ??= oidc
    .discovery(issuer, client.client_id, { redirect_uris: [client.redirect_uri] }, oidc.ClientSecretBasic(client.client_secret), {
      // openid-client refuses plain http; latchkey allows it only on a loopback issuer, for development.
      execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    })
    .catch((error: unknown) => {
      configuration = undefined
      throw error
    })
  return configuration
}

/** The access token's claims, for display only: a client treats the token as opaque; the API verifies it. */
function peek(jwt: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return {}
  }
}

function keep(session: Session, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): void {
  session.tokens = {
    accessToken: tokens.access_token,
    // Refresh tokens rotate: each refresh returns a new one, and the old one is dead.
    refreshToken: tokens.refresh_token ?? session.tokens?.refreshToken,
    idToken: tokens.id_token ?? session.tokens?.idToken,
    expiresAt: Date.now() + (tokens.expiresIn() ?? 0) * 1000,
    scope: tokens.scope ?? '',
  }
  session.claims = tokens.claims() ?? session.claims
}

async function home(session: Session, url: URL, res: ServerResponse): Promise<void> {
  if (!session.tokens) {
    const signedOut = session.logoutState !== undefined && url.searchParams.get('state') === session.logoutState
    page(res, 'Example app', `
      ${signedOut ? '<p id="signed-out" class="note">You are signed out, here and at latchkey.</p>' : ''}
      <p>This app signs you in with latchkey (${escapeHtml(issuer.href)}).</p>
      <p><a id="sign-in" href="/login">Sign in with latchkey</a></p>`)
    return
  }
  const { tokens } = session
  page(res, 'Example app', `
    ${session.notice ? `<p id="notice" class="note">${escapeHtml(session.notice)}</p>` : ''}
    <p>Signed in as <strong id="user">${escapeHtml(String(session.userinfo?.preferred_username ?? session.claims?.sub ?? ''))}</strong>.</p>
    <h2>ID token claims</h2>
    <pre id="id-token-claims">${json(session.claims)}</pre>
    <h2>/userinfo</h2>
    <pre id="userinfo">${json(session.userinfo)}</pre>
    <h2>Access token</h2>
    <p>Scope <code>${escapeHtml(tokens.scope)}</code>, expires ${new Date(tokens.expiresAt).toISOString()}. Its claims (this app only shows them: the API verifies the token):</p>
    <pre id="access-token-claims">${json(peek(tokens.accessToken))}</pre>
    <form method="post" action="/refresh"><input type="hidden" name="csrf" value="${session.csrf}"><button id="refresh">Refresh the tokens</button></form>
    <h2>The demo API (${escapeHtml(apiUrl)})</h2>
    <form method="post" action="/api/me"><input type="hidden" name="csrf" value="${session.csrf}"><button id="call-me">GET /api/me</button></form>
    <form method="post" action="/api/sources"><input type="hidden" name="csrf" value="${session.csrf}"><button id="create-source">POST /api/sources (scope source:w)</button></form>
    ${session.apiResult ? `<pre id="api-result">${escapeHtml(session.apiResult)}</pre>` : ''}
    <form method="post" action="/logout"><input type="hidden" name="csrf" value="${session.csrf}"><button id="sign-out">Sign out</button></form>`)
  session.notice = undefined
}

/** Step 1: send the browser to latchkey's /authorize with PKCE, state and nonce. */
async function login(session: Session, res: ServerResponse): Promise<void> {
  const config = await provider()
  // PKCE (RFC 7636): the verifier stays here; latchkey sees only its SHA-256 (S256).
  const codeVerifier = oidc.randomPKCECodeVerifier()
  // state ties the answer to this browser's request (CSRF); nonce ties the ID token to it (replay).
  const state = oidc.randomState()
  const nonce = oidc.randomNonce()
  session.pending = { codeVerifier, state, nonce }
  const target = oidc.buildAuthorizationUrl(config, {
    redirect_uri: client.redirect_uri,
    scope: client.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    // RFC 8707: the API the access token is for (its `aud`).
    ...(client.resource ? { resource: client.resource } : {}),
  })
  redirect(res, target.href)
}

/**
 * Step 2: latchkey sends the browser back with ?code=…&state=…&iss=…. openid-client checks
 * state and iss (RFC 9207), swaps the code for tokens with the client secret and the PKCE
 * verifier, and checks the ID token (signature, issuer, audience, expiry, nonce).
 */
async function callback(session: Session, url: URL, res: ServerResponse): Promise<void> {
  const pending = session.pending
  // One use: a reload of the callback page must not replay the code.
  session.pending = undefined
  if (!pending) return redirect(res, '/')
  const config = await provider()
  const tokens = await oidc.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: pending.codeVerifier,
    expectedState: pending.state,
    expectedNonce: pending.nonce,
    idTokenExpected: true,
  })
  // Signed in: a new session id, so one planted in this browser earlier is worth nothing.
  const signedIn = renewSession(session)
  res.setHeader('set-cookie', sessionCookie(signedIn, appUrl))
  keep(signedIn, tokens)
  // Step 3: /userinfo with the access token; its `sub` must be the ID token's.
  signedIn.userinfo = await oidc.fetchUserInfo(config, tokens.access_token, signedIn.claims?.sub ?? oidc.skipSubjectCheck)
  signedIn.notice = 'Signed in.'
  redirect(res, '/')
}

/** Step 4: a new access token from the refresh token, without the user. */
async function refresh(session: Session, res: ServerResponse): Promise<void> {
  if (!session.tokens?.refreshToken) return redirect(res, '/')
  keep(session, await oidc.refreshTokenGrant(await provider(), session.tokens.refreshToken))
  session.notice = 'Tokens refreshed.'
  redirect(res, '/')
}

/** Step 5: call the API with the access token as a Bearer token (RFC 6750). */
async function callApi(session: Session, path: '/api/me' | '/api/sources', res: ServerResponse): Promise<void> {
  if (!session.tokens) return redirect(res, '/')
  const init: RequestInit = { headers: { authorization: `Bearer ${session.tokens.accessToken}` } }
  if (path === '/api/sources') {
    init.method = 'POST'
    init.headers = { ...init.headers, 'content-type': 'application/json' }
    init.body = JSON.stringify({ title: 'Created by the example app' })
  }
  try {
    const answer = await fetch(new URL(path, apiUrl), init)
    // On 401 with error="invalid_token" a real app refreshes and retries once.
    const challenge = answer.headers.get('www-authenticate')
    session.apiResult = `${init.method ?? 'GET'} ${path} → ${answer.status}\n${challenge ? `WWW-Authenticate: ${challenge}\n` : ''}${await answer.text()}`
  } catch (error) {
    session.apiResult = `${path}: the API at ${apiUrl} did not answer (${(error as Error).message}). Is "npm run resource-server" running?`
  }
  redirect(res, '/')
}

/**
 * Step 6: sign out here, then at latchkey (OIDC RP-Initiated Logout): the ID token says which
 * sign-in ends, and latchkey sends the browser back to the registered post-logout URI.
 */
async function logout(current: Session, res: ServerResponse): Promise<void> {
  const idToken = current.tokens?.idToken
  const refreshToken = current.tokens?.refreshToken
  const state = oidc.randomState()
  const config = await provider()
  // RFC 7009: the refresh token would otherwise stay valid after sign-out (its whole family goes).
  if (refreshToken) await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' })
  // Forget the tokens now, under a new session id; keep only what recognises the way back.
  const session = renewSession(current)
  res.setHeader('set-cookie', sessionCookie(session, appUrl))
  for (const key of ['tokens', 'claims', 'userinfo', 'apiResult', 'notice'] as const) delete session[key]
  session.logoutState = state
  if (!idToken) return redirect(res, '/')
  const target = oidc.buildEndSessionUrl(config, {
    id_token_hint: idToken,
    post_logout_redirect_uri: client.post_logout_redirect_uri,
    state,
  })
  redirect(res, target.href)
}

function redirect(res: ServerResponse, location: string): void {
  // 303: after a POST the browser follows with a GET.
  res.writeHead(303, { location, 'cache-control': 'no-store' }).end()
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > 10_000) throw new Error('form too large')
  }
  return new URLSearchParams(body)
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', appUrl)
  const existing = readSession(req)
  const session = existing ?? newSession()
  if (!existing) res.setHeader('set-cookie', sessionCookie(session, appUrl))
  const key = `${req.method} ${url.pathname}`
  if (req.method === 'POST' && !checkCsrf(session, (await readForm(req)).get('csrf'))) {
    return page(res, 'Refused', '<p>This form did not come from this app. <a href="/">Back</a></p>', 403)
  }
  switch (key) {
    case 'GET /': return home(session, url, res)
    case 'GET /login': return login(session, res)
    case 'GET /callback': return callback(session, url, res)
    case 'POST /refresh': return refresh(session, res)
    case 'POST /api/me': return callApi(session, '/api/me', res)
    case 'POST /api/sources': return callApi(session, '/api/sources', res)
    case 'POST /logout': return logout(session, res)
    default: return page(res, 'Not found', '<p>Not found. <a href="/">Home</a></p>', 404)
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((error: unknown) => {
    // An OAuth error (access_denied, invalid_grant…) has a code; show it, never a token.
    const code = (error as { error?: string; code?: string }).error ?? (error as { code?: string }).code ?? 'error'
    process.stderr.write(`example app: ${req.method} ${(req.url ?? '').split('?')[0]}: ${code}: ${(error as Error).message}\n`)
    if (!res.headersSent) page(res, 'Sign-in failed', `<p id="error"><strong>${escapeHtml(code)}</strong>: ${escapeHtml((error as Error).message)}</p><p><a href="/">Back</a></p>`, 400)
  })
})
server.listen(port, env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`example app: ${appUrl} (signs in with ${issuer.origin} as ${client.client_id}; API ${apiUrl})\n`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close(() => process.exit(0)))
