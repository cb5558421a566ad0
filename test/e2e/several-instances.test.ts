import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { migrations } from '../../src/storage/migrations/index.js'
import { hiddenInputs } from '../helpers/browser.js'
import { runCli, runCliInProcess } from '../helpers/cli.js'
import { nginxAvailable, startNginx, UPSTREAM_HEADER } from '../helpers/nginx.js'
import { newPkce } from '../helpers/oauth.js'
import { adminQuery, createTestDatabase, postgresAvailable } from '../helpers/pg-database.js'
import { freePort } from '../helpers/server.js'
import { eventually, startServerProcess, type ServerProcess } from '../helpers/server-process.js'

// Several latchkey processes on one PostgreSQL database and one KEYS_DIR, behind a real nginx
// (round robin), as README.md's "Running several instances" describes.

const PASSWORD = 'correct horse battery'
const REDIRECT_URI = 'https://photos.example.com/callback'
const PUBLISH_DELAY = 2
const CLIENT_AUTH_LIMIT = 4
const SIGNIN_ADDRESS_LIMIT = 8

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  /** The instance nginx sent the request to (its host:port), '' when it did not go through nginx. */
  upstream: string
}

/**
 * An HTTP caller over node:http from a loopback address of its own (127.0.0.2, …, which Linux
 * routes to lo without configuration): behind nginx with TRUST_PROXY, that is the client
 * address latchkey counts limits against. Keeps cookies
 * (one origin, no attributes) and never follows redirects.
 */
class Caller {
  readonly cookies = new Map<string, string>()

  constructor(readonly origin: string, readonly localAddress = '127.0.0.1') {}

  send(method: 'GET' | 'POST', path: string, options: { form?: Record<string, string>; headers?: Record<string, string>; origin?: string } = {}): Promise<Answer> {
    const url = new URL(path, options.origin ?? this.origin)
    const body = options.form ? new URLSearchParams(options.form).toString() : undefined
    const headers: Record<string, string> = { ...options.headers }
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie) headers.cookie = cookie
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { method, headers, localAddress: this.localAddress, agent: false }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => {
          for (const line of res.headers['set-cookie'] ?? []) {
            const [pair = ''] = line.split(';')
            const eq = pair.indexOf('=')
            if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
          }
          const upstream = res.headers[UPSTREAM_HEADER]
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, upstream: typeof upstream === 'string' ? upstream : '' })
        })
      })
      req.on('error', reject)
      req.end(body)
    })
  }
}

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body) as Record<string, unknown>
}

function basicAuth(clientId: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` }
}

/** host:port of a server process's address, as nginx's $upstream_addr names it. */
function hostPort(server: ServerProcess): string {
  return new URL(server.address).host
}

/** Its complete JSON log lines (a line still being written is left for the next call). */
function events(server: ServerProcess): Array<Record<string, unknown>> {
  const out = server.output()
  return out
    .slice(0, out.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

async function jwks(address: string): Promise<JSONWebKeySet> {
  return (await (await fetch(`${address}/.well-known/jwks.json`)).json()) as JSONWebKeySet
}

async function kids(address: string): Promise<string[]> {
  return (await jwks(address)).keys.map((k) => k.kid as string).sort()
}

async function cli(t: Test, env: Record<string, string>, args: string[], input?: string): Promise<Record<string, string>> {
  const run = await runCliInProcess([...args, '--json'], { env, input })
  t.equal(run.code, 0, `${args.slice(0, 2).join(' ')}: ${run.stderr}`)
  return JSON.parse(run.stdout) as Record<string, string>
}

t.test('three instances on one PostgreSQL database and one KEYS_DIR, behind nginx', async (t) => {
  if (!nginxAvailable(t) || !(await postgresAvailable(t))) return
  // Its own directory, not t.testdir() (one path per test file), so that two runs of this file
  // at once never share a KEYS_DIR.
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-instances-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const databaseUrl = await createTestDatabase(t)
  const nginxPort = await freePort()
  const issuer = `http://127.0.0.1:${nginxPort}`
  const env = {
    DATABASE_URL: databaseUrl,
    KEYS_DIR: join(dir, 'keys'),
    ISSUER: issuer,
    // nginx connects from 127.0.0.1: its X-Forwarded-For and X-Forwarded-Proto are believed.
    TRUST_PROXY: '127.0.0.1',
    KEY_PUBLISH_DELAY: String(PUBLISH_DELAY),
    PURGE_INTERVAL: '1',
    LIMIT_CLIENT_AUTH_FAILURES: String(CLIENT_AUTH_LIMIT),
    LIMIT_SIGNIN_FAILURES_PER_ADDRESS: String(SIGNIN_ADDRESS_LIMIT),
  }
  // Started at once, on an empty database and an empty KEYS_DIR: they migrate and create the
  // first key together.
  const NAMES = ['a', 'b', 'c']
  const servers = await Promise.all(NAMES.map(() => startServerProcess(t, env)))
  const nginx = await startNginx(t, { dir: join(dir, 'nginx'), port: nginxPort, upstreams: servers.map(hostPort) })
  const instance = (answer: Answer) => NAMES[servers.findIndex((server) => hostPort(server) === answer.upstream)] ?? `unknown (${answer.upstream})`
  const allEvents = () => servers.flatMap(events)
  /** Each answer came from another instance than the one before it. */
  const alternates = (t: Test, answers: Answer[], what: string) => {
    const names = answers.map(instance)
    t.ok(names.every((name) => NAMES.includes(name)), `${what}: every step answered by one of the instances (${names.join(' ')})`)
    t.ok(names.every((name, i) => i === 0 || name !== names[i - 1]), `${what}: each step on another instance than the one before (${names.join(' ')})`)
  }
  /** The requests went to every instance. */
  const spread = (t: Test, answers: Answer[], what: string) => t.same(new Set(answers.map(instance)), new Set(NAMES), `${what} went to every instance`)

  const cliEnv = { DATABASE_URL: databaseUrl, KEYS_DIR: env.KEYS_DIR, KEY_PUBLISH_DELAY: String(PUBLISH_DELAY) }
  await cli(t, cliEnv, ['user', 'add', '--username', 'alice', '--password-stdin'], PASSWORD)
  const app = await cli(t, cliEnv, ['client', 'add', '--name', 'Photo Print Shop', '--redirect-uri', REDIRECT_URI, '--scope', 'openid profile email offline_access'])
  const service = await cli(t, cliEnv, ['client', 'add', '--name', 'Nightly export', '--grant', 'client_credentials'])
  const appAuth = basicAuth(app.client_id!, app.client_secret!)

  /** Sign-in (and consent, when asked) through nginx from `caller`; answers the code, its verifier and every answer. */
  const signIn = async (caller: Caller) => {
    const pkce = newPkce()
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: app.client_id!,
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile offline_access',
      state: 'several',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    })
    const answers: Answer[] = []
    const loginPage = await caller.send('GET', `/authorize?${query}`)
    answers.push(loginPage)
    let res = await caller.send('POST', '/authorize/login', { form: { ...hiddenInputs(loginPage.body, '/authorize/login'), username: 'alice', password: PASSWORD } })
    answers.push(res)
    if (res.status === 200 && res.body.includes('action="/authorize/consent"')) {
      res = await caller.send('POST', '/authorize/consent', { form: { ...hiddenInputs(res.body, '/authorize/consent'), decision: 'allow' } })
      answers.push(res)
    }
    if (res.status !== 303) throw new Error(`sign-in ended with ${res.status}: ${res.body.slice(0, 200)}`)
    const location = new URL(res.headers.location as string)
    return { location, code: location.searchParams.get('code') ?? '', verifier: pkce.verifier, answers }
  }
  const exchange = (caller: Caller, code: string, verifier: string, origin?: string) =>
    caller.send('POST', '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, headers: appAuth, origin })
  const refresh = (caller: Caller, refreshToken: string, origin?: string) =>
    caller.send('POST', '/token', { form: { grant_type: 'refresh_token', refresh_token: refreshToken }, headers: appAuth, origin })
  const introspect = (caller: Caller, token: string) => caller.send('POST', '/introspect', { form: { token }, headers: appAuth })

  t.test('started at once on an empty database, they migrated it once and share one first key', async (t) => {
    for (const server of servers) t.equal((await fetch(`${server.address}/healthz`)).status, 200, `${server.address} is healthy`)
    const rows = await adminQuery<{ name: string; times: number }>(databaseUrl, 'select name, count(*)::int as times from kysely_migration group by name order by name')
    t.same(rows.map((r) => r.name), Object.keys(migrations).sort(), 'every migration is recorded')
    t.ok(rows.length > 0 && rows.every((r) => r.times === 1), 'each of them once')
    const published = await Promise.all(servers.map((server) => kids(server.address)))
    t.equal(published[0]?.length, 1, 'one first key, created by one of them')
    t.same(published[1], published[0], 'the second instance publishes the same key')
    t.same(published[2], published[0], 'the third too')
    const files = (await readdir(env.KEYS_DIR)).filter((name) => name.endsWith('.json') && !name.startsWith('.'))
    t.same(files, [`${published[0]?.[0]}.json`], 'one key file in KEYS_DIR')
    const discovery = json(await new Caller(nginx.origin).send('GET', '/.well-known/openid-configuration'))
    t.equal(discovery.issuer, issuer, 'the issuer is nginx\'s origin')
    t.equal(discovery.token_endpoint, `${issuer}/token`)
  })

  t.test('sign-in, consent, code exchange, refresh, userinfo, introspection and revocation through nginx, each step on another instance', async (t) => {
    const browser = new Caller(nginx.origin, '127.0.0.2')
    const { location, code, verifier, answers } = await signIn(browser)
    t.equal(answers.length, 3, 'the login page, the consent page, the redirect')
    t.equal(answers[0]?.status, 200)
    t.equal(answers[1]?.status, 200)
    t.equal(location.origin + location.pathname, REDIRECT_URI)
    t.equal(location.searchParams.get('iss'), issuer)
    t.equal(location.searchParams.get('state'), 'several')

    const exchanged = await exchange(browser, code, verifier)
    t.equal(exchanged.status, 200, exchanged.body)
    const first = json(exchanged)
    const refreshed = await refresh(browser, first.refresh_token as string)
    t.equal(refreshed.status, 200, refreshed.body)
    const second = json(refreshed)
    t.not(second.refresh_token, first.refresh_token, 'the refresh token rotated')
    const keySet = await browser.send('GET', '/.well-known/jwks.json')
    const { payload } = await jwtVerify(second.access_token as string, createLocalJWKSet(JSON.parse(keySet.body) as JSONWebKeySet), { issuer, typ: 'at+jwt' })

    const userinfo = await browser.send('GET', '/userinfo', { headers: { authorization: `Bearer ${second.access_token as string}` } })
    t.equal(userinfo.status, 200, userinfo.body)
    t.equal(json(userinfo).sub, payload.sub)
    t.equal(json(userinfo).preferred_username, 'alice')
    const active = await introspect(browser, second.access_token as string)
    t.match(json(active), { active: true, sub: payload.sub, client_id: app.client_id, iss: issuer })
    const revoked = await browser.send('POST', '/revoke', { form: { token: second.refresh_token as string, token_type_hint: 'refresh_token' }, headers: appAuth })
    t.equal(revoked.status, 200)
    const inactive = await introspect(browser, second.access_token as string)
    t.same(json(inactive), { active: false }, 'revoking the refresh token revoked its family\'s access token on every instance')
    const refused = await refresh(browser, second.refresh_token as string)
    t.equal(refused.status, 400)
    t.equal(json(refused).error, 'invalid_grant')
    alternates(t, [...answers, exchanged, refreshed, keySet, userinfo, active, revoked, inactive, refused], 'the whole flow')

    // The address latchkey saw is the browser's, which nginx passed on in X-Forwarded-For.
    const signedIn = allEvents().filter((e) => e.event === 'signin_succeeded')
    t.equal(signedIn.length, 1)
    t.equal(signedIn[0]?.ip, '127.0.0.2', 'the client address through nginx (TRUST_PROXY)')
  })

  t.test('one refresh token sent to every instance at once: one rotation, then its family is revoked', async (t) => {
    const rounds = 3
    for (let round = 1; round <= rounds; round++) {
      const browser = new Caller(nginx.origin, '127.0.0.2')
      const { code, verifier } = await signIn(browser)
      const issued = json(await exchange(browser, code, verifier))
      // Straight to each instance, not through nginx, all at once.
      const direct = new Caller(nginx.origin)
      const answers = await Promise.all(servers.map((server) => refresh(direct, issued.refresh_token as string, server.address)))
      const statuses = answers.map((answer) => answer.status).sort()
      t.same(statuses, [200, 400, 400], `round ${round}: exactly one of them rotates (${statuses.join(', ')})`)
      const winner = answers.find((answer) => answer.status === 200)
      for (const loser of answers.filter((answer) => answer.status !== 200)) t.equal(json(loser).error, 'invalid_grant')
      const rotated = json(winner as Answer)
      const later = await refresh(browser, rotated.refresh_token as string)
      t.equal(later.status, 400, `round ${round}: the winner's refresh token no longer works`)
      t.equal(json(later).error, 'invalid_grant')
      t.same(json(await introspect(browser, rotated.access_token as string)), { active: false }, `round ${round}: nor its access token`)
      t.same(json(await introspect(browser, issued.access_token as string)), { active: false }, `round ${round}: nor the first access token`)
    }
    // A loser that finds the family already revoked records nothing; one of them revokes it.
    const revocations = allEvents().filter((e) => e.event === 'refresh_token_reuse' && e.familyRevoked === true)
    t.equal(revocations.length, rounds, 'each family revoked once, as a reuse')
  })

  t.test('one code sent to every instance at once: one exchange, then what it yielded is revoked', async (t) => {
    const browser = new Caller(nginx.origin, '127.0.0.2')
    const { code, verifier } = await signIn(browser)
    const answers = await Promise.all(servers.map((server) => exchange(browser, code, verifier, server.address)))
    const statuses = answers.map((answer) => answer.status).sort()
    t.same(statuses, [200, 400, 400], `exactly one of them redeems it (${statuses.join(', ')})`)
    for (const loser of answers.filter((answer) => answer.status !== 200)) t.equal(json(loser).error, 'invalid_grant')
    const issued = json(answers.find((answer) => answer.status === 200) as Answer)
    // RFC 9700 §4.2.4: a replayed code revokes the tokens it yielded.
    t.same(json(await introspect(browser, issued.access_token as string)), { active: false }, 'its access token is revoked')
    const refused = await refresh(browser, issued.refresh_token as string)
    t.equal(json(refused).error, 'invalid_grant', 'and its refresh token')
  })

  t.test('the sign-in throttle and the failure limits count across the instances', async (t) => {
    // One login page per address, posted to again and again (a transaction stays usable after a
    // failure), so that the posts alternate between the instances.
    const loginForm = async (caller: Caller) => {
      const query = new URLSearchParams({ response_type: 'code', client_id: app.client_id!, redirect_uri: REDIRECT_URI, scope: 'openid profile offline_access', code_challenge: newPkce().challenge, code_challenge_method: 'S256' })
      const page = await caller.send('GET', `/authorize?${query}`)
      t.equal(page.status, 200)
      const fields = hiddenInputs(page.body, '/authorize/login')
      return (username: string, password: string) => caller.send('POST', '/authorize/login', { form: { ...fields, username, password } })
    }

    // The per-username throttle: 5 failures for alice from one address lock her out there.
    const guess = await loginForm(new Caller(nginx.origin, '127.0.0.3'))
    const guesses: Answer[] = []
    for (let i = 0; i < 5; i++) guesses.push(await guess('alice', `wrong ${i}`))
    t.same(guesses.map((g) => g.status), [401, 401, 401, 401, 401])
    spread(t, guesses, 'the failures')
    const locked = await guess('alice', PASSWORD)
    t.equal(locked.status, 429, 'the right password is refused from that address: the five failures, split across the instances, count together')
    t.match(locked.body, /Too many failed sign-ins; try again in a few minutes/)
    t.ok(Number(locked.headers['retry-after']) > 0)
    const elsewhere = await (await loginForm(new Caller(nginx.origin, '127.0.0.4')))('alice', PASSWORD)
    t.equal(elsewhere.status, 303, 'alice still signs in from another address')

    // The per-address limit: failures for many usernames from one address.
    const spray = await loginForm(new Caller(nginx.origin, '127.0.0.5'))
    const sprayed: Answer[] = []
    for (let i = 0; i < SIGNIN_ADDRESS_LIMIT; i++) sprayed.push(await spray(`user-${i}`, 'guess'))
    t.ok(sprayed.every((s) => s.status === 401), `${SIGNIN_ADDRESS_LIMIT} failures`)
    spread(t, sprayed, 'the failures')
    const limited = await spray('alice', PASSWORD)
    t.equal(limited.status, 429, `the sign-in after ${SIGNIN_ADDRESS_LIMIT} failures split across the instances is refused`)
    t.match(limited.body, /Too many failed sign-ins from your network/)

    // Failed client authentications, per client_id and address.
    const caller = new Caller(nginx.origin, '127.0.0.6')
    const wrong = basicAuth(service.client_id!, 'not the secret')
    const failures: Answer[] = []
    for (let i = 0; i < CLIENT_AUTH_LIMIT; i++) failures.push(await caller.send('POST', '/token', { form: { grant_type: 'client_credentials' }, headers: wrong }))
    t.ok(failures.every((f) => f.status === 401 && json(f).error === 'invalid_client'), `${CLIENT_AUTH_LIMIT} failures answered 401`)
    spread(t, failures, 'the failures')
    const throttled = await Promise.all(servers.map(() => caller.send('POST', '/token', { form: { grant_type: 'client_credentials' }, headers: wrong })))
    t.same(throttled.map((th) => th.status), [429, 429, 429], 'the next failures are refused by every instance')
    spread(t, throttled, 'the refused ones')
    const right = await caller.send('POST', '/token', { form: { grant_type: 'client_credentials' }, headers: basicAuth(service.client_id!, service.client_secret!) })
    t.equal(right.status, 200, 'a correct secret is never refused')
    const counted = allEvents().filter((e) => e.event === 'client_auth_failed')
    // Every failure, and the first refusal of the window; later refusals add nothing to the log.
    t.equal(counted.length, CLIENT_AUTH_LIMIT + 1)
    t.ok(counted.every((e) => e.ip === '127.0.0.6'), 'counted against the caller\'s address, not nginx\'s')
  })

  t.test('a key rotated with the CLI on the shared KEYS_DIR is published by every instance, and each signs with it after the delay', async (t) => {
    const tokenFrom = async (address: string) => {
      const res = await new Caller(address).send('POST', '/token', { form: { grant_type: 'client_credentials' }, headers: basicAuth(service.client_id!, service.client_secret!) })
      const token = json(res).access_token as string
      return { token, kid: decodeProtectedHeader(token).kid as string }
    }
    const [old] = await kids(nginx.origin)
    const run = await runCli(['keys', 'rotate', '--json'], { env: cliEnv })
    t.equal(run.code, 0, run.stderr)
    const rotated = JSON.parse(run.stdout) as { kid: string; status: string; signs_from: string }
    t.equal(rotated.status, 'next')
    const signsFrom = Date.parse(rotated.signs_from)
    for (const server of servers) {
      await eventually(`the new key in ${server.address}'s JWKS`, 5000, async () => ((await kids(server.address)).includes(rotated.kid) ? true : undefined))
      const published = await kids(server.address)
      t.same(published, [old, rotated.kid].sort(), 'the old and the new key published')
      const during = await tokenFrom(server.address)
      if (Date.now() < signsFrom - 200) t.equal(during.kid, old, 'the old key signs during the delay')
    }
    for (const server of servers) {
      const after = await eventually(`${server.address} signing with the new key`, PUBLISH_DELAY * 1000 + 5000, async () => {
        const issued = await tokenFrom(server.address)
        return issued.kid === rotated.kid ? issued : undefined
      })
      t.ok(Date.now() >= signsFrom, 'not before signs_from')
      await t.resolves(jwtVerify(after.token, createLocalJWKSet(await jwks(nginx.origin)), { issuer, typ: 'at+jwt' }), 'verifies against the JWKS through nginx')
    }
    for (const server of servers) t.notMatch(server.output(), /key_file_ignored|keys_reload_refused|keys_watch_failed/, 'no reload trouble')
  })

  t.test('every instance purges expired rows on its timer, without conflict', async (t) => {
    const rows = 1200
    const marks = servers.map((server) => events(server).length)
    const expired = Date.now() - 60_000
    await adminQuery(databaseUrl, `insert into failure_counters (key_hash, failures, expires_at) select 'purge-test-' || g, 1, $1::bigint from generate_series(1, ${rows}) g`, [expired])
    await adminQuery(databaseUrl, `insert into login_attempts (key_hash, failures, locked_until, expires_at) select 'purge-test-' || g, 1, null, $1::bigint from generate_series(1, ${rows}) g`, [expired])
    const purgesSince = () =>
      servers.map((server, i) => events(server).slice(marks[i]).filter((e) => e.event === 'purge' && e.deleted !== undefined))
    const left = async () =>
      (await adminQuery<{ n: number }>(databaseUrl, "select (select count(*) from failure_counters where key_hash like 'purge-test-%') + (select count(*) from login_attempts where key_hash like 'purge-test-%') as n"))[0]?.n
    const deleted = (table: string) => purgesSince().flat().reduce((sum, e) => sum + Number((e.deleted as Record<string, number>)[table] ?? 0), 0)
    await eventually('the expired rows purged, and every instance purging since', 15_000, async () => {
      const everyInstancePurged = purgesSince().every((purges) => purges.length > 0)
      return Number(await left()) === 0 && deleted('failure_counters') >= rows && deleted('login_attempts') >= rows && everyInstancePurged ? true : undefined
    })
    t.equal(deleted('failure_counters'), rows, 'every expired failure counter deleted once, whichever instance deleted it')
    t.equal(deleted('login_attempts'), rows, 'every expired login attempt deleted once')
    const live = await adminQuery<{ n: number }>(databaseUrl, 'select count(*)::int as n from failure_counters')
    t.ok((live[0]?.n ?? 0) > 0, 'the live counts of the limits above are kept')
  })

  t.test('no instance logged an error', async (t) => {
    for (const server of servers) {
      const errors = events(server).filter((e) => Number(e.level) >= 50)
      t.same(errors, [], `${server.address}: no error`)
    }
    t.notMatch(nginx.errorLog(), /\[(error|crit|alert|emerg)\]/, 'nginx reached the instances without error')
  })
})
