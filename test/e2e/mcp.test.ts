import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { decodeJwt } from 'jose'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { systemClock } from '../../src/clock.js'
import { loadConfig, parseDatabaseUrl } from '../../src/config.js'
import { connect } from '../../src/storage/connect.js'
import { migrate } from '../../src/storage/migrate.js'
import { hiddenInputs } from '../helpers/browser.js'
import { runCliInProcess } from '../helpers/cli.js'
import { startProcess } from '../helpers/example-app.js'
import { FetchBrowser, isRedirect } from '../helpers/fetch-browser.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { PASSWORD } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'
import { freePort } from '../helpers/server.js'

// An AI agent's first contact, end to end, with nothing of the MCP SDK patched or mocked: the
// SDK's own client meets the example MCP server (examples/mcp-server), is refused with a 401,
// finds latchkey through the server's RFC 9728 metadata, registers itself (RFC 7591), runs the
// code flow with PKCE and `resource` (RFC 8707), and calls the tool with the token it got.
// The user's part (sign-in, consent) is played over HTTP by the provider below.
// On SQLite only: what this flow stores (registration, code, refresh) is tested on PostgreSQL
// too, in test/http/registration*.test.ts, test/storage and the openid-client e2e test.

const SCOPE = 'mcp:tools'

/** What a user does in the browser the agent opens: sign in, read the consent page, allow. */
interface UserAgent {
  /** Follows the authorization URL to the redirect back to the agent, and returns that URL. */
  authorize(url: URL): Promise<URL>
}

/**
 * An OAuthClientProvider that keeps everything in memory, as an agent's session would, and
 * whose redirectToAuthorization "opens the browser": the user signs in and allows, and the code
 * comes back to the loopback redirect URI (RFC 8252 §7.3), checked as a client must check it.
 */
class AgentProvider implements OAuthClientProvider {
  private information: OAuthClientInformationMixed | undefined
  private saved: OAuthTokens | undefined
  private verifier: string | undefined
  private expectedState: string | undefined
  /** Every authorization URL the SDK built, in order. */
  readonly authorizationUrls: URL[] = []
  /** The code from the last redirect back, for transport.finishAuth. */
  code: string | undefined

  constructor(
    readonly redirectUrl: string,
    private readonly user: UserAgent,
    private readonly issuer: string,
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test agent',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }

  state(): string {
    this.expectedState = randomBytes(16).toString('base64url')
    return this.expectedState
  }

  clientInformation() {
    return this.information
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.information = information
  }

  tokens() {
    return this.saved
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier
  }

  codeVerifier(): string {
    if (this.verifier === undefined) throw new Error('no code verifier saved')
    return this.verifier
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    this.authorizationUrls.push(url)
    const back = await this.user.authorize(url)
    if (`${back.origin}${back.pathname}` !== this.redirectUrl) throw new Error(`sent back to ${back.href}, not to the redirect URI`)
    // RFC 6749 §10.12 and RFC 9207: the answer is to this request, from this issuer.
    if (back.searchParams.get('state') !== this.expectedState) throw new Error('state does not match')
    if (back.searchParams.get('iss') !== this.issuer) throw new Error(`iss is ${back.searchParams.get('iss')}, not ${this.issuer}`)
    const code = back.searchParams.get('code')
    if (code === null) throw new Error(`no code: ${back.search}`)
    this.code = code
  }
}

/** A fetch that notes every request's method and URL (never its headers or body). */
function recordingFetch(log: string[]): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    log.push(`${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url}`)
    return fetch(input, init)
  }
}

t.test('the MCP SDK client discovers latchkey from the MCP server, registers itself, gets the user\'s consent and calls the tool', async (t) => {
  const dir = t.testdir()
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const DATABASE_URL = join(dir, 'latchkey.sqlite')
  const env = {
    DATABASE_URL,
    KEYS_DIR: join(dir, 'keys'),
    ISSUER: issuer,
    REGISTRATION: 'open',
    REGISTRATION_SCOPES: `openid profile email offline_access ${SCOPE}`,
  }
  // latchkey listening, and its CLI on the same database, as on an operator's machine.
  const store = connect(parseDatabaseUrl(DATABASE_URL))
  await migrate(store)
  const app = await buildApp(loadConfig(env), { store, keys: await fixtureKeyStore(), clock: systemClock, passwords: testPasswords })
  t.teardown(async () => {
    await app.close()
    await store.close()
  })
  await app.listen({ port, host: '127.0.0.1' })
  const cli = async (...args: string[]) => {
    const run = await runCliInProcess([...args, '--json'], { env })
    t.equal(run.code, 0, `latchkey ${args.join(' ')}: ${run.stderr}`)
    return JSON.parse(run.stdout) as Record<string, unknown>
  }

  // The operator's part, as the README gives it: a user, the tools' scope, and the MCP server
  // registered as the resource server of its URL (which self-registered clients may then ask for).
  const user = await cli('user', 'add', '--username', 'alice', '--password', PASSWORD)
  await cli('scope', 'add', SCOPE, '--description', 'Use the tools of the example MCP server')
  const mcpPort = await freePort()
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`
  await cli('client', 'add', '--name', 'Example MCP server', '--audience', mcpUrl)
  await startProcess(t, 'examples/mcp-server/server.ts', { ISSUER: issuer, PORT: String(mcpPort), MCP_URL: mcpUrl }, /MCP server: http/)

  // The user, in the browser the agent opens (a new one each time): signs in as alice and allows.
  const consentPages: string[] = []
  const person: UserAgent = {
    async authorize(url) {
      const browser = new FetchBrowser(issuer)
      const login = await browser.follow(await browser.get(url))
      t.equal(login.status, 200, 'the sign-in page')
      const loginHtml = await login.text()
      const consent = await browser.follow(await browser.post('/authorize/login', {
        ...hiddenInputs(loginHtml, '/authorize/login'),
        username: 'alice',
        password: PASSWORD,
      }))
      t.equal(consent.status, 200, 'the consent page')
      const consentHtml = await consent.text()
      consentPages.push(consentHtml)
      const back = await browser.post('/authorize/consent', { ...hiddenInputs(consentHtml, '/authorize/consent'), decision: 'allow' })
      t.ok(isRedirect(back), 'allowing sends the browser back to the agent')
      return new URL(back.headers.get('location') as string)
    },
  }
  const callbackPort = await freePort()
  const provider = new AgentProvider(`http://127.0.0.1:${callbackPort}/callback`, person, issuer)
  const requests: string[] = []
  const agentFetch = recordingFetch(requests)

  // First contact: no token, so the MCP server answers 401, and the SDK runs discovery,
  // registration and the authorization request; the transport then reports it is not authorized yet.
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: agentFetch })
  const refused: unknown = await new Client({ name: 'test-agent', version: '1.0.0' }).connect(first).then(() => undefined, (error: unknown) => error)
  t.ok(refused instanceof UnauthorizedError, `connect is refused as unauthorized (${String(refused)})`)
  t.same(requests.slice(0, 4), [
    `POST ${mcpUrl}`,
    `GET http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`,
    `GET ${issuer}/.well-known/oauth-authorization-server`,
    `POST ${issuer}/register`,
  ], 'the 401 led to the metadata, the metadata to latchkey, and latchkey\'s metadata to /register')

  // It registered itself: a public, self-registered client latchkey now lists.
  const registered = provider.clientInformation()
  t.ok(registered?.client_id.startsWith('lk_'), 'a client_id from latchkey')
  t.notOk(registered?.client_secret, 'a public client: no secret')
  const clients = (await cli('client', 'list')).items as Array<Record<string, unknown>>
  t.match(clients.find((c) => c.client_id === registered?.client_id), { name: 'Test agent', self_registered: true, public: true })

  // The authorization request: code + PKCE S256, the scope from the metadata, resource = the MCP server.
  t.equal(provider.authorizationUrls.length, 1)
  const request = (provider.authorizationUrls[0] as URL).searchParams
  t.equal(`${provider.authorizationUrls[0]?.origin}${provider.authorizationUrls[0]?.pathname}`, `${issuer}/authorize`)
  t.match(Object.fromEntries(request), {
    response_type: 'code',
    client_id: registered?.client_id,
    code_challenge: /^[A-Za-z0-9_-]{43}$/,
    code_challenge_method: 'S256',
    redirect_uri: provider.redirectUrl,
    scope: SCOPE,
    resource: mcpUrl,
  })

  // The consent page said the app registered itself, and which API it asks for.
  t.equal(consentPages.length, 1)
  const consentHtml = consentPages[0] as string
  t.match(consentHtml, /class="notice"[^>]*>[^<]*(<[^>]+>[^<]*)*registered itself/, 'the consent page warns that the app registered itself')
  t.match(consentHtml, /Example MCP server/, 'the consent page names the MCP server')
  t.match(consentHtml, `127.0.0.1:${callbackPort}`, 'and where it will send the user back')

  // Back at the agent: the code is exchanged (with the verifier and the same resource).
  t.ok(provider.code, 'the code came back to the redirect URI')
  await first.finishAuth(provider.code as string)
  const tokens = provider.tokens()
  t.ok(tokens?.access_token, 'an access token')
  t.ok(tokens?.refresh_token, 'a refresh token')
  const claims = decodeJwt(tokens?.access_token as string)
  t.match(claims, { iss: issuer, aud: mcpUrl, sub: user.id, client_id: registered?.client_id, scope: SCOPE })

  // Connected again, with the token: the tool answers for alice.
  const client = new Client({ name: 'test-agent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: agentFetch }))
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.same(tools.map((tool) => tool.name), ['whoami'])
  const result = await client.callTool({ name: 'whoami', arguments: {} })
  t.notOk(result.isError, 'the tool call succeeded')
  const [content] = result.content as Array<{ type: string; text: string }>
  t.equal(content?.type, 'text')
  t.same(JSON.parse(content?.text as string), { sub: user.id, client_id: registered?.client_id, scope: SCOPE })
  t.equal(provider.authorizationUrls.length, 1, 'no second authorization')

  // An access token the MCP server refuses (here: spoilt) sends the SDK to refresh, with the
  // same resource: a new token for the MCP server, and the call goes through without the user.
  const spoilt = { ...tokens, access_token: `${tokens?.access_token}x` } as OAuthTokens
  provider.saveTokens(spoilt)
  const before = requests.length
  const again = await client.callTool({ name: 'whoami', arguments: {} })
  t.notOk(again.isError, 'the call after the refresh succeeded')
  t.ok(requests.slice(before).includes(`POST ${issuer}/token`), 'the SDK refreshed at /token')
  const refreshed = provider.tokens()
  t.not(refreshed?.access_token, spoilt.access_token)
  t.not(refreshed?.refresh_token, tokens?.refresh_token, 'the refresh token rotated')
  t.match(decodeJwt(refreshed?.access_token as string), { aud: mcpUrl, sub: user.id, scope: SCOPE })
  t.equal(provider.authorizationUrls.length, 1, 'the user was not asked again')

  // The MCP server's own answers, over plain HTTP.
  const metadataUrl = `http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`
  const initialize = (authorization?: string) => fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } }),
  })

  const anonymous = await initialize()
  t.equal(anonymous.status, 401, 'no token: 401')
  t.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="${mcpUrl}", resource_metadata="${metadataUrl}"`, 'the challenge names the metadata, and no error (RFC 6750 §3.1)')

  const document = await fetch(metadataUrl)
  t.equal(document.status, 200)
  t.same(await document.json(), {
    resource: mcpUrl,
    authorization_servers: [issuer],
    scopes_supported: [SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'latchkey example MCP server',
  }, 'RFC 9728 metadata: the resource is the MCP server\'s URL, the authorization server latchkey')

  const forged = await initialize('Bearer not.a.token')
  t.equal(forged.status, 401)
  t.match(forged.headers.get('www-authenticate'), /error="invalid_token"/)

  // Tokens from another client's code flow (the same alice): one for the MCP server without the
  // scope, and one with the scope for another API (DEFAULT_AUDIENCE).
  const other = await (await fetch(`${issuer}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Other agent', redirect_uris: [provider.redirectUrl], token_endpoint_auth_method: 'none', scope: `openid ${SCOPE}` }),
  })).json() as { client_id: string }
  const tokenFor = async (params: Record<string, string>) => {
    const verifier = randomBytes(32).toString('base64url')
    const url = new URL(`${issuer}/authorize`)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: other.client_id,
      redirect_uri: provider.redirectUrl,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: 'manual',
      ...params,
    }).toString()
    const back = await person.authorize(url)
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code') as string,
        redirect_uri: provider.redirectUrl,
        code_verifier: verifier,
        client_id: other.client_id,
        ...params,
      }),
    })
    t.equal(res.status, 200, 'a token from the other client')
    return ((await res.json()) as { access_token: string }).access_token
  }

  const withoutScope = await initialize(`Bearer ${await tokenFor({ scope: 'openid', resource: mcpUrl })}`)
  t.equal(withoutScope.status, 403, 'a token for the MCP server without its scope: 403')
  t.equal(
    withoutScope.headers.get('www-authenticate'),
    `Bearer realm="${mcpUrl}", error="insufficient_scope", error_description="token lacks scope: ${SCOPE}", scope="${SCOPE}", resource_metadata="${metadataUrl}"`,
  )

  const otherApi = await tokenFor({ scope: SCOPE })
  t.equal(decodeJwt(otherApi).aud, loadConfig(env).defaultAudience)
  const wrongAudience = await initialize(`Bearer ${otherApi}`)
  t.equal(wrongAudience.status, 401, 'a token for another API: 401')
  t.match(wrongAudience.headers.get('www-authenticate'), /error="invalid_token"/)

  // MCP transport security (DNS rebinding): a web page of another origin is refused, token or not.
  const rebound = await fetch(mcpUrl, {
    method: 'POST',
    headers: { origin: 'http://attacker.example', authorization: `Bearer ${provider.tokens()?.access_token}`, 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(rebound.status, 403, 'another origin: 403')

  const methods = await fetch(mcpUrl, { headers: { authorization: `Bearer ${provider.tokens()?.access_token}`, accept: 'text/event-stream' } })
  t.equal(methods.status, 405, 'stateless: no event stream')
  t.equal(methods.headers.get('allow'), 'POST')
})
