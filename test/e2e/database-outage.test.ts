import { join } from 'node:path'
import t, { type Test } from 'tap'
import { runCliInProcess } from '../helpers/cli.js'
import { createDatabase, postgresRequired, TEST_DATABASE_URL } from '../helpers/db.js'
import { FetchBrowser } from '../helpers/fetch-browser.js'
import { eventually, startServerProcess, type ServerProcess } from '../helpers/server-process.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

// One latchkey process on PostgreSQL behind a TCP proxy; the proxy, never the shared
// PostgreSQL, goes down. While it is down every endpoint answers 503 in its own format, in
// bounded time; the process stays up; once it is back everything works within seconds.

const STATEMENT_TIMEOUT_MS = 1000
const PASSWORD = 'outage-password-never-logged'
const REDIRECT_URI = 'http://127.0.0.1:9/callback'

async function timed(work: Promise<Response>): Promise<{ res: Response; ms: number; body: string }> {
  const started = Date.now()
  const res = await work
  const body = await res.text()
  return { res, ms: Date.now() - started, body }
}

function hidden(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
  if (!m) throw new Error(`no ${name} in the page`)
  return m[1] as string
}

if (postgresRequired(t, 'the database outage test')) {
  t.test('PostgreSQL goes away and comes back: 503s in every format, no crash, no restart', async (t) => {
    const { url: direct } = await createDatabase(t)
    const dir = t.testdir()
    const env = { DATABASE_URL: direct.href, KEYS_DIR: join(dir, 'keys') }
    const add = async (args: string[]) => {
      const run = await runCliInProcess(['client', 'add', ...args, '--json'], { env })
      t.equal(run.code, 0, run.stderr)
      return JSON.parse(run.stdout) as { client_id: string; client_secret: string }
    }
    const service = await add(['--name', 'svc', '--grant', 'client_credentials'])
    const web = await add(['--name', 'web', '--redirect-uri', REDIRECT_URI])

    const target = new URL(TEST_DATABASE_URL as string)
    const proxy = await startTcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) })
    const proxied = new URL(direct.href)
    proxied.host = `127.0.0.1:${proxy.port}`
    // The test server trusts local connections and never asks for it: it only has to stay out of the log.
    proxied.password = PASSWORD
    const server = await startServerProcess(t, {
      ...env,
      DATABASE_URL: proxied.href,
      DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      DB_POOL_SIZE: '4',
      PURGE_INTERVAL: '0',
    })
    const { address } = server
    const browser = new FetchBrowser(address)

    const healthz = () => timed(fetch(`${address}/healthz`))
    const token = () =>
      timed(
        fetch(`${address}/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          },
          body: 'grant_type=client_credentials',
        }),
      )
    const authorizeUrl = `/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: web.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 's1',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })}`
    const authorize = () => timed(browser.get(authorizeUrl))
    // A person on the login page when the database goes away submits the form.
    const openLoginForm = async () => {
      const page = await authorize()
      t.equal(page.res.status, 200, 'the login page')
      return { transaction: hidden(page.body, 'transaction'), csrf_token: hidden(page.body, 'csrf_token') }
    }
    const submitLogin = (form: Record<string, string>) => timed(browser.post('/authorize/login', { ...form, username: 'alice', password: 'wrong password' }))

    const assertWorking = async (what: string) => {
      const started = Date.now()
      await eventually(`${what}: /healthz 200`, 8000, async () => ((await healthz()).res.status === 200 ? true : undefined))
      const issued = await eventually(`${what}: /token 200`, 5000, async () => {
        const r = await token()
        return r.res.status === 200 ? r : undefined
      })
      t.match(JSON.parse(issued.body), { token_type: 'Bearer', access_token: /^ey/ }, `${what}: a real token`)
      t.pass(`${what}: working again ${Date.now() - started} ms after the database came back`)
    }
    const assertAlive = (what: string) => {
      t.equal(server.child.exitCode, null, `${what}: the process is still running`)
      t.equal(server.child.signalCode, null)
    }
    const assertOutage = async (what: string, form: Record<string, string>, budgetMs: number) => {
      const [health, issued, page, login] = await Promise.all([healthz(), token(), authorize(), submitLogin(form)])
      t.equal(health.res.status, 503, `${what}: /healthz 503`)
      t.same(JSON.parse(health.body), { status: 'unavailable', database: 'unreachable' })
      t.equal(health.res.headers.get('cache-control'), 'no-store')

      t.equal(issued.res.status, 503, `${what}: /token 503`)
      t.match(issued.res.headers.get('content-type'), /application\/json/)
      t.same(JSON.parse(issued.body), { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' })
      t.equal(issued.res.headers.get('retry-after'), '5')
      t.equal(issued.res.headers.get('cache-control'), 'no-store')

      for (const [name, r] of [['/authorize', page], ['the login form', login]] as const) {
        t.equal(r.res.status, 503, `${what}: ${name} 503`)
        t.match(r.res.headers.get('content-type'), /text\/html/, `${what}: ${name} is the error page`)
        t.match(r.body, /is briefly unavailable/, `${what}: ${name} says what happened`)
        t.match(r.body, /<code>temporarily_unavailable<\/code>/)
        t.equal(r.res.headers.get('retry-after'), '5')
      }
      for (const [name, r] of [['/healthz', health], ['/token', issued], ['/authorize', page], ['the login form', login]] as const) {
        t.ok(r.ms < budgetMs, `${what}: ${name} answered in ${r.ms} ms`)
      }
      assertAlive(what)
    }

    await assertWorking('at start')
    const firstForm = await openLoginForm()

    // The database refuses connections (stopped, or its host is up without it).
    await proxy.refuse()
    await assertOutage('refused', firstForm, 2000)
    await proxy.restore()
    await assertWorking('after the refusal')

    // The network drops everything: open connections and new ones hang. Only the timeouts
    // (statement + margin for a query, DB_STATEMENT_TIMEOUT_MS to connect, 2 s for /healthz)
    // end the wait.
    const secondForm = await openLoginForm()
    await Promise.all([healthz(), token(), healthz(), token()])
    proxy.blackHole()
    await assertOutage('black-holed', secondForm, STATEMENT_TIMEOUT_MS * 2 + 2500)
    await proxy.restore()
    await assertWorking('after the black hole')

    // The connection dies while a request's query is waiting on it.
    await Promise.all([token(), token()])
    proxy.blackHole()
    const inFlight = token()
    await new Promise((resolve) => setTimeout(resolve, 300))
    await proxy.refuse()
    const cut = await inFlight
    t.equal(cut.res.status, 503, 'a query cut off mid-flight: 503')
    assertAlive('cut mid-query')
    await proxy.restore()
    await assertWorking('after the cut')

    assertOutageLogged(t, server)
  })
}

/** The outage is in the log as warnings, and never with the database URL's credentials. */
function assertOutageLogged(t: Test, server: ServerProcess) {
  const events = server.events()
  t.ok(events.some((e) => e.event === 'database_unavailable' && e.level === 40), 'logged as a warning')
  t.notOk(events.some((e) => e.msg === 'unhandled error'), 'never as a bug (500)')
  t.notMatch(server.output(), PASSWORD, 'the database password is never written')
}
