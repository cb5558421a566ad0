import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { basic, clientToken, registerClients, SCOPE, SignedInUser, REDIRECT_URI, type Credentials } from './latchkey.js'
import type { LoadSpec } from './load-spec.js'
import { measureStarts, progress, runWorkload } from './measure.js'
import type { BenchOptions } from './options.js'
import { interleave, PAIRED_ROUNDS, PAIRED_SECONDS, PAIRED_WARM_UP_SECONDS, type PairedRates } from './paired.js'
import { freePort, memoryMiB, startServer, type Pinning, type RunningServer, type ServerSpec } from './processes.js'
import type { ServerName, StartResult, WorkloadResult } from './report.js'

export interface SuiteContext {
  pinning: Pinning
  options: BenchOptions
  tmpDir: string
  /** bench/.build/peers: the peer and resource-server scripts as JavaScript. */
  peersDir: string
  databaseUrl: string
}

export interface SuiteResult {
  workloads: WorkloadResult[]
  start: StartResult
  /** Still running, for the paired client_credentials rounds across servers; run.ts stops it. */
  running: RunningServer
  /** Its client_credentials load at 10 connections. */
  cc10: LoadSpec
}

/** The audience latchkey issues for by default (DEFAULT_AUDIENCE), and the resource servers' identifier. */
const AUDIENCE = 'http://localhost:4000'
const CC_BODY = `grant_type=client_credentials&scope=${encodeURIComponent(SCOPE)}`
const CONNECTIONS = [1, 10, 50]
/** Preparing codes stops after this long, so none expires (CODE_TTL=600) before it is used. */
const CODE_PREPARATION_MS = 60_000
/** Refresh chains per connection: a warm-up that ends with a request in flight loses its chain, and the rest carry on. */
const CHAINS_PER_CONNECTION = 2

function spec(ctx: SuiteContext, url: string, fields: Partial<LoadSpec> & Pick<LoadSpec, 'expectField'>): LoadSpec {
  return {
    url,
    method: 'GET',
    headers: {},
    connections: 10,
    durationSeconds: ctx.options.durationSeconds,
    warmUpSeconds: ctx.options.warmUpSeconds,
    body: { kind: 'static', form: undefined },
    ...fields,
  }
}

/** client_credentials with client_secret_basic. */
function clientCredentialsLoad(ctx: SuiteContext, issuer: string, client: Credentials, connections: number): LoadSpec {
  return spec(ctx, `${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(client) },
    connections,
    body: { kind: 'static', form: CC_BODY },
    expectField: 'access_token',
  })
}

/** client_credentials at 1, 10 and 50 connections. */
async function clientCredentials(ctx: SuiteContext, server: ServerName, issuer: string, client: Credentials): Promise<WorkloadResult[]> {
  const results: WorkloadResult[] = []
  for (const connections of CONNECTIONS) {
    results.push(await runWorkload(ctx.pinning, { server, workload: 'client_credentials', spec: clientCredentialsLoad(ctx, issuer, client, connections) }))
  }
  return results
}

/**
 * A load as one paired round runs it: PAIRED_WARM_UP_SECONDS unmeasured (new connections, a server
 * that sat idle while others ran), then PAIRED_SECONDS measured.
 */
function pairedRound(load: LoadSpec): LoadSpec {
  return { ...load, durationSeconds: PAIRED_SECONDS, warmUpSeconds: PAIRED_WARM_UP_SECONDS }
}

/** Discovery and the JWKS its jwks_uri names. */
async function metadata(ctx: SuiteContext, server: ServerName, issuer: string): Promise<WorkloadResult[]> {
  const discoveryUrl = `${issuer}/.well-known/openid-configuration`
  const { jwks_uri: jwksUri } = (await (await fetch(discoveryUrl)).json()) as { jwks_uri: string }
  return [
    await runWorkload(ctx.pinning, { server, workload: 'discovery', spec: spec(ctx, discoveryUrl, { expectField: 'issuer' }) }),
    await runWorkload(ctx.pinning, { server, workload: 'jwks', spec: spec(ctx, jwksUri, { expectField: 'keys' }) }),
  ]
}

async function latchkeyServerSpec(ctx: SuiteContext) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATABASE_URL: ctx.databaseUrl,
    KEYS_DIR: join(ctx.tmpDir, 'keys'),
    DEFAULT_AUDIENCE: AUDIENCE,
    // Codes are prepared ahead of their workload; ten minutes (the most OAuth 2.1 allows) so
    // none expires first. It costs nothing per request.
    CODE_TTL: '600',
    // A first key of SIGNING_ALG signs after KEY_PUBLISH_DELAY (a rotation); 0 so it signs at once.
    ...(ctx.options.signingAlg === undefined ? {} : { SIGNING_ALG: ctx.options.signingAlg, KEY_PUBLISH_DELAY: '0' }),
  }
  const server = serverSpec(ctx, 'latchkey', join(ctx.options.target, ctx.options.serverScript), env, `${issuer}/.well-known/openid-configuration`)
  // BENCH_CPU_PROF=<dir>: latchkey writes a V8 CPU profile of the whole run there when it stops.
  const profileDir = process.env.BENCH_CPU_PROF
  if (profileDir) server.args.unshift('--cpu-prof', `--cpu-prof-dir=${profileDir}`)
  return { issuer, env, server }
}

/** A Node script as a server: its output to a log file in the run's directory. */
function serverSpec(ctx: SuiteContext, name: string, script: string, env: Record<string, string>, readyUrl: string): ServerSpec {
  return { name, args: [script], env, logFile: join(ctx.tmpDir, `${name.replace(/\W+/g, '-')}.log`), readyUrl }
}

export interface LatchkeyResult extends SuiteResult {
  peakRssMiB: number | undefined
  resourceServers: WorkloadResult[]
  /** In alternation: client_credentials, code exchange and refresh (`grants`); the module and plain jose (`bearer`). */
  paired: { grants: PairedRates; bearer: PairedRates }
}

/** Latchkey set up by its CLI and pages, then every workload, then the resource servers against it. */
export async function latchkeySuite(ctx: SuiteContext): Promise<LatchkeyResult> {
  const { issuer, env, server } = await latchkeyServerSpec(ctx)
  progress('latchkey: clients and user through the CLI')
  const clients = await registerClients(ctx.options.target, { DATABASE_URL: env.DATABASE_URL!, KEYS_DIR: env.KEYS_DIR! }, AUDIENCE)
  // The first start creates the signing key; the measured starts find a prepared database.
  await (await startServer(ctx.pinning, server)).stop()
  const { start, running } = await measureStarts(ctx.pinning, 'latchkey', server)
  let handedOver = false
  try {
    const user = new SignedInUser(issuer, clients.web)
    progress('latchkey: signing in through /authorize (login form, consent)')
    await user.exchange(await user.signIn(`openid profile offline_access ${SCOPE}`))

    const workloads = [...(await clientCredentials(ctx, 'latchkey', issuer, clients.service))]
    const cc10Load = clientCredentialsLoad(ctx, issuer, clients.service, 10)
    const cc10 = workloads.find((w) => w.connections === 10)!.requestsPerSecond
    const run = async (workload: string, load: LoadSpec) => workloads.push(await runWorkload(ctx.pinning, { server: 'latchkey', workload, spec: load }))
    const post = (path: string, client: Credentials, body: LoadSpec['body'], expectField: string): LoadSpec =>
      spec(ctx, `${issuer}${path}`, { method: 'POST', headers: { authorization: basic(client) }, body, expectField })

    // Enough for the warm-up and the run at the client_credentials rate, which a code exchange (it also writes) does not reach.
    const codes = await prepareCodes(user, Math.ceil(cc10 * (ctx.options.warmUpSeconds + ctx.options.durationSeconds) * 1.2) + 20)
    await run('authorization_code', post('/token', clients.web, { kind: 'codes', codes, spare: 10, redirectUri: REDIRECT_URI }, 'access_token'))

    const refreshLoad = async (): Promise<LoadSpec> => {
      // Two chains per connection, each started by a code exchange.
      const chains = await user.codes(SCOPE, 10 * CHAINS_PER_CONNECTION)
      const refreshTokens = await Promise.all(chains.map(async (code) => (await user.exchange(code)).refresh_token!))
      return post('/token', clients.web, { kind: 'refresh', refreshTokens }, 'refresh_token')
    }
    await run('refresh_token', await refreshLoad())

    const serviceToken = await clientToken(issuer, clients.service)
    await run('introspect', post('/introspect', clients.api, { kind: 'static', form: `token=${encodeURIComponent(serviceToken)}` }, 'active'))

    const userToken = (await user.exchange(await user.code('openid profile'))).access_token
    await run('userinfo', spec(ctx, `${issuer}/userinfo`, { headers: { authorization: `Bearer ${userToken}` }, expectField: 'sub' }))
    workloads.push(...(await metadata(ctx, 'latchkey', issuer)))

    const peakRssMiB = memoryMiB(running.pid, 'VmHWM')

    // Rounds of code exchange, refresh and client_credentials in alternation. A round's codes
    // are 60 % of what client_credentials serves in a round: at a third of its rate (where code
    // exchange is), a round lasts a little longer than the others once its warm-up has taken its share.
    const codesPerRound = Math.ceil(cc10 * PAIRED_SECONDS * 0.6)
    const pairedCodes = await prepareCodes(user, PAIRED_ROUNDS * (codesPerRound + 10))
    const perRound = Math.floor(pairedCodes.length / PAIRED_ROUNDS)
    const refreshLoads: LoadSpec[] = []
    for (let round = 0; round < PAIRED_ROUNDS; round++) refreshLoads.push(await refreshLoad())
    const paired = await interleave(ctx.pinning, 'latchkey grants', [
      { name: 'client_credentials', load: () => pairedRound(cc10Load) },
      {
        name: 'authorization_code',
        load: (round) => pairedRound(post('/token', clients.web, { kind: 'codes', codes: pairedCodes.slice(round * perRound, (round + 1) * perRound), spare: 10, redirectUri: REDIRECT_URI }, 'access_token')),
      },
      { name: 'refresh_token', load: (round) => pairedRound(refreshLoads[round]!) },
    ])

    const resourceServers = await resourceServerSuite(ctx, issuer, serviceToken)
    handedOver = true
    return { workloads, start, peakRssMiB, resourceServers: resourceServers.workloads, paired: { grants: paired, bearer: resourceServers.paired }, running, cc10: pairedRound(cc10Load) }
  } finally {
    if (!handedOver) await running.stop()
  }
}

async function prepareCodes(user: SignedInUser, wanted: number) {
  progress(`latchkey: preparing up to ${wanted} codes through GET /authorize`)
  const codes = []
  const deadline = performance.now() + CODE_PREPARATION_MS
  while (codes.length < wanted && performance.now() < deadline) codes.push(...(await user.codes(SCOPE, Math.min(200, wanted - codes.length))))
  if (codes.length < wanted) progress(`  only ${codes.length} codes in ${CODE_PREPARATION_MS / 1000} s: the workload stops after them`)
  return codes
}

/** The same token checked by latchkey's resource-server module and by plain jose, each on the server CPU: each alone, then in alternation. */
async function resourceServerSuite(ctx: SuiteContext, issuer: string, token: string): Promise<{ workloads: WorkloadResult[]; paired: PairedRates }> {
  const kid = (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
  const { keys } = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
  const publicJwkFile = join(ctx.tmpDir, 'latchkey-public.jwk.json')
  await writeFile(publicJwkFile, JSON.stringify(keys.find((key) => key.kid === kid)))

  const results: WorkloadResult[] = []
  const loads: Array<{ name: string; load: () => LoadSpec }> = []
  const running: RunningServer[] = []
  const apps: Array<[ServerName, string, Record<string, string>]> = [
    ['RS module', 'rs-module.js', { RS_MODULE: join(ctx.options.target, 'dist/resource-server/index.js'), ...(ctx.options.signingAlg ? { RS_ALGORITHMS: ctx.options.signingAlg } : {}) }],
    ['plain jose', 'rs-jose.js', { PUBLIC_JWK_FILE: publicJwkFile }],
  ]
  try {
    for (const [name, script, extraEnv] of apps) {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      const env = { PORT: String(port), ISSUER: issuer, AUDIENCE, ...extraEnv }
      running.push(await startServer(ctx.pinning, serverSpec(ctx, name, join(ctx.peersDir, script), env, `${url}/healthz`)))
      const load = spec(ctx, `${url}/api/me`, { headers: { authorization: `Bearer ${token}` }, expectField: 'sub' })
      results.push(await runWorkload(ctx.pinning, { server: name, workload: 'bearer verification', spec: load }))
      loads.push({ name, load: () => pairedRound(load) })
    }
    return { workloads: results, paired: await interleave(ctx.pinning, 'bearer verification', loads) }
  } finally {
    for (const server of running) await server.stop()
  }
}

/** A private JWK of the run's algorithm for a peer, in a file. */
async function peerKey(ctx: SuiteContext, alg: string): Promise<string> {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const file = join(ctx.tmpDir, `peer-${alg}.jwk.json`)
  await writeFile(file, JSON.stringify({ ...pair.privateKey.export({ format: 'jwk' }), kid: `peer-${alg}`, alg, use: 'sig' }))
  return file
}

/** A peer (node-oidc-provider, or the bare fastify ceiling): starts, then client_credentials, then (oidc-provider) its metadata. */
export async function peerSuite(ctx: SuiteContext, server: 'oidc-provider' | 'bare fastify'): Promise<SuiteResult> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const client = { clientId: 'bench-service', clientSecret: 'bench-secret-0123456789abcdef0123456789abcdef' }
  const env = {
    PORT: String(port),
    ISSUER: issuer,
    AUDIENCE,
    CLIENT_ID: client.clientId,
    CLIENT_SECRET: client.clientSecret,
    PRIVATE_JWK_FILE: await peerKey(ctx, ctx.options.signingAlg ?? 'RS256'),
  }
  const script = server === 'oidc-provider' ? 'oidc-provider.js' : 'bare-fastify.js'
  const readyUrl = server === 'oidc-provider' ? `${issuer}/.well-known/openid-configuration` : `${issuer}/healthz`
  const { start, running } = await measureStarts(ctx.pinning, server, serverSpec(ctx, server, join(ctx.peersDir, script), env, readyUrl))
  try {
    const workloads = await clientCredentials(ctx, server, issuer, client)
    if (server === 'oidc-provider') workloads.push(...(await metadata(ctx, server, issuer)))
    return { workloads, start, running, cc10: pairedRound(clientCredentialsLoad(ctx, issuer, client, 10)) }
  } catch (error) {
    await running.stop()
    throw error
  }
}

