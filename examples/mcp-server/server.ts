/**
 * An MCP server (Model Context Protocol, streamable HTTP transport, the official SDK) whose one
 * tool is protected by latchkey: every request to /mcp needs a latchkey access token issued for
 * this server (its `aud` is this server's URL) with the scope `mcp:tools`.
 *
 * An MCP client that has never heard of latchkey finds it from this server's 401: the challenge
 * names the RFC 9728 metadata, which names latchkey as the authorization server; the client then
 * registers itself (RFC 7591), sends its user through code + PKCE with `resource` set to this
 * server's URL (RFC 8707), and calls the tool with the token. See README.md beside this file.
 *
 * Environment: ISSUER (latchkey, default http://localhost:3000), PORT (4100), HOST (127.0.0.1),
 * MCP_URL (the URL clients connect to, which is also this server's resource identifier and the
 * audience its tokens must name; default http://localhost:PORT/mcp), SIGNING_ALG (latchkey's, if
 * not RS256).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
// In your own project: import { createResourceServer } from 'latchkey/resource-server'
import { bearerToken, createResourceServer, type AccessTokenClaims } from '../../src/resource-server/index.js'

/** The scope every tool call needs: register it in latchkey and allow it to self-registered clients. */
const TOOLS_SCOPE = 'mcp:tools'

const env = process.env
const issuer = env.ISSUER ?? 'http://localhost:3000'
const port = Number(env.PORT ?? 4100)
const host = env.HOST ?? '127.0.0.1'
const mcpUrl = new URL(env.MCP_URL ?? `http://localhost:${port}/mcp`)

const rs = createResourceServer({
  issuer,
  // RFC 8707 / MCP authorization: the token must be issued for this very server.
  audience: mcpUrl.href,
  algorithms: [...new Set(['RS256', env.SIGNING_ALG ?? 'RS256'])],
  // RFC 9728: served at /.well-known/oauth-protected-resource/mcp and named in every 401.
  resourceMetadata: { scopesSupported: [TOOLS_SCOPE], resourceName: 'latchkey example MCP server' },
})
// The document is fixed (its scopes are configured), so it is read once.
const metadata = rs.metadata()
if (metadata === undefined) throw new Error('the resource server serves no metadata')
const { path: metadataPath, headers: metadataHeaders } = metadata
const metadataBody = JSON.stringify(metadata.body)

/** One MCP server per request (the SDK's stateless mode): no session outlives its request. */
function mcpServer(): McpServer {
  const server = new McpServer({ name: 'latchkey-example', version: '1.0.0' })
  server.registerTool(
    'whoami',
    { title: 'Who am I', description: 'The latchkey user and client this call is made for, and the scopes granted.' },
    async ({ authInfo }) => {
      const who = {
        sub: authInfo?.extra?.sub,
        client_id: authInfo?.clientId,
        scope: authInfo?.scopes.join(' '),
      }
      return { content: [{ type: 'text', text: JSON.stringify(who) }] }
    },
  )
  return server
}

/** What the SDK hands tools as `extra.authInfo`. */
function authInfo(token: string, claims: AccessTokenClaims): AuthInfo {
  return {
    token,
    clientId: claims.client_id,
    scopes: claims.scope?.split(' ') ?? [],
    expiresAt: claims.exp,
    resource: mcpUrl,
    extra: { sub: claims.sub },
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', mcpUrl).pathname
  if (path === metadataPath && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, metadataHeaders)
    res.end(req.method === 'HEAD' ? undefined : metadataBody)
    return
  }
  if (path !== mcpUrl.pathname) return sendJson(res, 404, { error: 'not_found' })
  // MCP transport security: Origin is checked against DNS rebinding, and Host with it (a rebound
  // name reaches this port under another Host). Agents send no Origin; a web page always does.
  const origin = req.headers.origin
  if (req.headers.host !== mcpUrl.host || (origin !== undefined && origin !== mcpUrl.origin)) {
    return sendJson(res, 403, { error: 'forbidden', error_description: `only ${mcpUrl.origin} may call this server` })
  }

  // Every method on /mcp needs the token first: a client without one gets the challenge that
  // starts its authorization (resource_metadata="…"), one without the scope a 403 naming it.
  const result = await rs.authenticate(req.headers.authorization, [TOOLS_SCOPE])
  if (!result.ok) {
    res.writeHead(result.status, result.headers)
    res.end(JSON.stringify(result.body))
    return
  }
  // Stateless: no server-sent event stream (GET) and no session to end (DELETE).
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' })

  const token = bearerToken(req.headers.authorization)
  const server = mcpServer()
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(Object.assign(req, { auth: authInfo(token, result.claims) }), res)
}

const http = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    // Never the request's headers: they hold the token.
    process.stderr.write(`MCP server: ${(error as Error).stack ?? String(error)}\n`)
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
    else res.destroy()
  })
})
http.listen(port, host, () => {
  process.stdout.write(`MCP server: ${mcpUrl.href} (listening on ${host}:${port}, issuer ${issuer}, metadata ${metadata.url})\n`)
})
