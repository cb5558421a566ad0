import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { buildDemo } from '../../src/resource-server/demo-app.js'
import { refusedUrl, startFixtureIssuer } from './fixture-issuer.js'
import { assertRefused } from './harness.js'

const issuer = await startFixtureIssuer({ audience: 'http://localhost:4000' })
t.teardown(() => issuer.close())
const realm = issuer.audience
const { app } = await buildDemo({ issuer: issuer.issuer, audience: realm })
t.teardown(() => app.close())

const post = (token: string | undefined, payload: string, contentType = 'application/json') =>
  app.inject({
    method: 'POST',
    url: '/api/sources',
    headers: { 'content-type': contentType, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    payload,
  })

t.test('GET /api/me answers sub, scope and client_id', async (t) => {
  const token = await issuer.sign({ sub: 'alice', scope: 'source:r', client_id: 'app-1' })
  const response = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(response.statusCode, 200)
  t.strictSame(response.json(), { sub: 'alice', scope: 'source:r', client_id: 'app-1' })
})

t.test('GET /api/me without a token is 401', async (t) => {
  assertRefused(t, await app.inject({ url: '/api/me' }), {
    status: 401,
    realm,
    description: 'bearer token required',
    resourceMetadata: 'http://localhost:4000/.well-known/oauth-protected-resource',
  })
})

t.test('serves its RFC 9728 metadata', async (t) => {
  const response = await app.inject({ url: '/.well-known/oauth-protected-resource' })
  t.equal(response.statusCode, 200)
  t.strictSame(response.json(), {
    resource: 'http://localhost:4000',
    authorization_servers: [issuer.issuer],
    scopes_supported: ['source:w'],
    bearer_methods_supported: ['header'],
    resource_name: 'latchkey demo API',
  })
})

t.test('GET /api/me answers an empty scope for a token without one', async (t) => {
  const token = await issuer.sign({ scope: undefined })
  const response = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(response.json().scope, '')
})

t.test('POST /api/sources with scope source:w creates the item (201)', async (t) => {
  const token = await issuer.sign({ sub: 'bob', scope: 'source:r source:w' })
  const response = await post(token, JSON.stringify({ name: 'feed', id: 'mine', created_by: 'mallory' }))
  t.equal(response.statusCode, 201)
  const item = response.json()
  t.match(item, { name: 'feed', created_by: 'bob' })
  t.match(item.id, /^[0-9a-f-]{36}$/, 'the server picks the id')
})

t.test('POST /api/sources without scope source:w is 403', async (t) => {
  const token = await issuer.sign({ scope: 'source:r' })
  assertRefused(t, await post(token, '{"name":"feed"}'), {
    status: 403,
    realm,
    error: 'insufficient_scope',
    description: 'token lacks scope: source:w',
    scope: 'source:w',
  })
})

t.test('POST /api/sources refuses a body that is not a JSON object (400)', async (t) => {
  const token = await issuer.sign({ scope: 'source:w' })
  for (const payload of ['[1,2]', '"text"', '42', 'null']) {
    const response = await post(token, payload)
    t.equal(response.statusCode, 400, payload)
    t.strictSame(response.json(), { error: 'invalid_request', error_description: 'body must be a JSON object' })
  }
  const malformed = await post(token, '{"name":')
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error, 'invalid_request')
})

t.test('POST /api/sources checks the token before reading the body', async (t) => {
  const response = await post(undefined, '{"name":')
  t.equal(response.statusCode, 401)
})

t.test('answers 500 without detail when a route fails', async (t) => {
  const { app } = await buildDemo({ issuer: issuer.issuer, audience: realm })
  t.teardown(() => app.close())
  app.get('/boom', async () => {
    throw new Error('secret detail')
  })
  const response = await app.inject({ url: '/boom' })
  t.equal(response.statusCode, 500)
  t.strictSame(response.json(), { error: 'server_error', error_description: 'internal server error' })
})

/** Runs demo.ts as `npm run resource-server` would, on a free port. */
function startDemo(env: Record<string, string>) {
  // The same TypeScript loader (and, under tap, coverage hooks with source maps) as this
  // process: a child under another loader would report coverage on the wrong lines.
  const child = spawn(process.execPath, [...process.execArgv, 'src/resource-server/demo.ts'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) resolve(match[1]!)
    })
    child.on('exit', () => reject(new Error(`demo exited: ${output}`)))
  })
  // A test that expects an exit never waits for `listening`.
  listening.catch(() => undefined)
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => void child.kill())
  return { child, listening, exited, output: () => output }
}

// Both start now, so their (slow, TypeScript-compiling) start-ups overlap.
const downIssuer = await refusedUrl()
const serving = startDemo({ RS_PORT: '0', ISSUER: downIssuer, AUDIENCE: 'http://localhost:4999/api' })
const badPort = startDemo({ RS_PORT: 'eighty' })
const badAudience = startDemo({ RS_PORT: '0', AUDIENCE: 'api' })

t.test('demo.ts serves with ISSUER and AUDIENCE, warns when the issuer is down, stops on SIGTERM', async (t) => {
  const base = await serving.listening
  while (!serving.output().includes('signing keys could not be loaded')) await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(serving.output(), `(${downIssuer})`, 'the warning names ISSUER')

  const anonymous = await fetch(`${base}/api/me`)
  t.equal(anonymous.status, 401)
  t.equal(
    anonymous.headers.get('www-authenticate'),
    'Bearer realm="http://localhost:4999/api", resource_metadata="http://localhost:4999/.well-known/oauth-protected-resource/api"',
    'the realm is AUDIENCE, the metadata that of AUDIENCE',
  )
  const metadata = await fetch(`${base}/.well-known/oauth-protected-resource/api`)
  t.equal(metadata.status, 200)
  t.strictSame(await metadata.json(), {
    resource: 'http://localhost:4999/api',
    authorization_servers: [downIssuer],
    scopes_supported: ['source:w'],
    bearer_methods_supported: ['header'],
    resource_name: 'latchkey demo API',
  })
  const token = await issuer.sign()
  const response = await fetch(`${base}/api/me?access_token=${token}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(response.status, 503, 'keys never loaded')
  t.notMatch(serving.output(), token, 'the token is never logged, not even from the query string')

  serving.child.kill('SIGTERM')
  t.equal(await serving.exited, 0, 'exits cleanly on SIGTERM')
})

t.test('demo.ts refuses a bad RS_PORT with exit code 1', async (t) => {
  t.equal(await badPort.exited, 1)
  t.match(badPort.output(), 'resource server failed to start: RS_PORT must be an integer')
})

t.test('demo.ts refuses an AUDIENCE that is no resource identifier with exit code 1', async (t) => {
  t.equal(await badAudience.exited, 1)
  t.match(badAudience.output(), 'resource server failed to start: audience must be a resource identifier to serve RFC 9728 metadata: not a URL: "api"')
})
