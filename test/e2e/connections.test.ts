import { request as httpRequest, Agent } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { CONNECTION_LIMITS } from '../../src/http-server.js'
import { startLatchkey } from '../helpers/server.js'

interface Answer {
  status: number | string
  headers: Record<string, string | string[] | undefined>
  body: string
}

function get(port: number, path: string, agent: Agent | false): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    // A reset connection is the failure under test: report it instead of throwing.
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error', headers: {}, body: '' }))
    req.end()
  })
}

/** Sends raw bytes on a fresh connection; resolves with all it received once the server closes it. */
function raw(port: number, bytes: string, options: { stallMs?: number } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }))
    socket.setTimeout(options.stallMs ?? 10_000, () => socket.destroy(new Error('the server kept the connection open')))
  })
}

const OVERSIZED = `/healthz?pad=${'a'.repeat(64 * 1024)}`

t.test('an oversized request gets its 431 and its own connection closed; every other request answers', async (t) => {
  const { app } = await startLatchkey(t)
  const port = (app.server.address() as { port: number }).port
  // A pooling client (or a reverse proxy with upstream keep-alive) sends the next request on
  // the connection the last one used, unless told it closes.
  const pooled = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => pooled.destroy())
  for (const agent of [pooled, false] as const) {
    const answers: Answer[] = []
    for (let i = 0; i < 10; i++) {
      answers.push(await get(port, OVERSIZED, agent))
      answers.push(await get(port, '/.well-known/jwks.json', agent))
    }
    const normal = answers.filter((_, i) => i % 2 === 1)
    t.same(normal.map((a) => a.status), Array(10).fill(200), `every normal request answers (${agent === false ? 'fresh connections' : 'pooled connection'})`)
    const refused = answers.filter((_, i) => i % 2 === 0)
    t.same(refused.map((a) => a.status), Array(10).fill(431))
    t.equal(refused[0]?.headers.connection, 'close', 'the client is told the connection ends')
    t.equal(refused[0]?.headers['cache-control'], 'no-store')
    t.same(JSON.parse(refused[0]?.body ?? '{}'), { error: 'invalid_request', error_description: 'the request headers are too large' })
  }
})

t.test('a malformed request line gets 400 and a clean close, and a concurrent connection is unaffected', async (t) => {
  const { app } = await startLatchkey(t)
  const port = (app.server.address() as { port: number }).port
  const bystander = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => bystander.destroy())
  t.equal((await get(port, '/healthz', bystander)).status, 200)
  const { text } = await raw(port, 'THIS IS NOT HTTP\r\n\r\n')
  t.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(text, /\r\nConnection: close\r\n/i)
  t.match(text, /"error":"invalid_request"/)
  t.equal((await get(port, '/healthz', bystander)).status, 200, 'the kept-alive connection still works')
})

t.test('a client that sends its headers too slowly is answered 408 and cut off', async (t) => {
  const limits = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 5_000, checkIntervalMs: 50 }
  const { app } = await startLatchkey(t, { connectionLimits: limits })
  const port = (app.server.address() as { port: number }).port
  // The request line and one header, then nothing: the headers never end.
  const { text, closedAfterMs } = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', { stallMs: 5_000 })
  t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/)
  t.ok(closedAfterMs >= 250 && closedAfterMs < 3_000, `closed after ${closedAfterMs} ms`)
})

t.test('the production limits: headers within 10 s, a request within 30 s, keep-alive past a load balancer idle timeout', async (t) => {
  const { app } = await startLatchkey(t)
  t.same(CONNECTION_LIMITS, { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 75_000, checkIntervalMs: 1_000 })
  t.equal(app.server.headersTimeout, 10_000)
  t.equal(app.server.requestTimeout, 30_000)
  t.equal(app.server.keepAliveTimeout, 75_000)
  t.ok(app.server.keepAliveTimeout > 60_000, 'longer than the 60 s idle timeout of common load balancers')
})
