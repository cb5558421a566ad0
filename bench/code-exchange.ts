import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { addClient } from '../src/admin/clients.js'
import { addUser } from '../src/admin/users.js'
import { buildApp } from '../src/app.js'
import { productionPasswords } from '../src/accounts/passwords.js'
import { NO_AUDIT } from '../src/audit.js'
import { systemClock } from '../src/clock.js'
import { loadConfig } from '../src/config.js'
import { loadKeyStore } from '../src/keys/key-store.js'
import { keySecretBox } from '../src/keys/secret-box.js'
import { s256 } from '../src/oauth/pkce.js'
import { sha256Hex } from '../src/oauth/secrets.js'
import { insertCode } from '../src/storage/authorization-codes.js'
import { connect } from '../src/storage/connect.js'
import { migrate } from '../src/storage/migrate.js'
import { repositories } from '../src/storage/repositories.js'

// `npm run bench:code-exchange`: where a code exchange's time goes beside client_credentials'.
// In one process, through fastify's inject (no sockets), one request at a time, on a file
// SQLite database with latchkey's pragmas and request logs at info to a file: the time per
// request of each grant, and every SQLite statement a code exchange runs, timed around
// better-sqlite3's run/get/all (the commit with the WAL checkpoint it sometimes does).

const ROUNDS = 5
const PER_ROUND = Number(process.env.BENCH_EXCHANGES || 2000)
if (!Number.isInteger(PER_ROUND) || PER_ROUND < 100 || PER_ROUND > 100_000) throw new Error('BENCH_EXCHANGES must be 100 to 100,000')

interface Timing {
  count: number
  micros: number
}
const statements = new Map<string, Timing>()
let timing = false

/**
 * The commits, by how long they took: most append to the WAL; about one in sixty also
 * checkpoints it (a run with wal_autocheckpoint=0 had no commit of 2 ms or more).
 */
function statementKey(source: string, micros: number): string {
  if (source !== 'commit') return source.length > 140 ? `${source.slice(0, 139)}…` : source
  return micros < 2000 ? 'commit (under 2 ms)' : 'commit (2 ms or more: with a WAL checkpoint)'
}

type Run = (this: Database.Statement, ...params: unknown[]) => unknown
const scratch = new Database(':memory:')
const statementPrototype = Object.getPrototypeOf(scratch.prepare('select 1')) as Record<'run' | 'get' | 'all', Run>
scratch.close()
for (const method of ['run', 'get', 'all'] as const) {
  const original = statementPrototype[method]
  statementPrototype[method] = function (this: Database.Statement, ...params: unknown[]) {
    if (!timing) return original.apply(this, params)
    const started = process.hrtime.bigint()
    try {
      return original.apply(this, params)
    } finally {
      const micros = Number(process.hrtime.bigint() - started) / 1000
      const key = statementKey(this.source, micros)
      const entry = statements.get(key) ?? { count: 0, micros: 0 }
      entry.count++
      entry.micros += micros
      statements.set(key, entry)
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-code-'))
const store = connect({ kind: 'sqlite', path: join(dir, 'latchkey.sqlite') })
try {
  await migrate(store)
  const config = loadConfig({ ISSUER: 'http://localhost:3000', KEYS_DIR: join(dir, 'keys') })
  const keys = await loadKeyStore(join(dir, 'keys'))
  const logger = { level: 'info', file: join(dir, 'latchkey.log') }
  const app = await buildApp(config, { store, keys, logger, totpSecrets: keySecretBox(randomBytes(32)) })
  const repos = repositories(store)
  const clientDeps = { clients: repos.clients, scopes: repos.scopes, clock: systemClock, audit: NO_AUDIT }
  const redirectUri = 'https://app.example.com/cb'
  const web = await addClient(clientDeps, { name: 'web', redirectUris: [redirectUri], grants: ['authorization_code', 'refresh_token'] })
  const service = await addClient(clientDeps, { name: 'service', redirectUris: [], grants: ['client_credentials'] })
  const user = await addUser({ users: repos.users, passwords: productionPasswords, clock: systemClock, audit: NO_AUDIT }, { username: 'alice', password: randomBytes(16).toString('hex') })
  const form = (id: string, secret: string | undefined) => ({
    authorization: `Basic ${Buffer.from(`${id}:${secret ?? ''}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  })
  const webHeaders = form(web.client_id, web.client_secret)
  const serviceHeaders = form(service.client_id, service.client_secret)

  // Codes as /authorize issues them (PKCE S256, no openid: one signature, as client_credentials).
  const codes: Array<{ code: string; verifier: string }> = []
  const now = Date.now()
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < (ROUNDS + 1) * PER_ROUND + 1; i++) {
      const code = randomBytes(32).toString('base64url')
      const verifier = randomBytes(32).toString('base64url')
      await insertCode(trx, {
        id: randomUUID(),
        codeHash: sha256Hex(code),
        clientId: web.client_id,
        userId: user.id,
        redirectUri,
        scopes: ['profile'],
        resource: config.defaultAudience,
        codeChallenge: s256(verifier),
        codeChallengeMethod: 'S256',
        authTime: now,
        amr: ['pwd'],
        createdAt: now,
        expiresAt: now + 3_600_000,
        usedAt: null,
        familyId: null,
        nonce: null,
      })
      codes.push({ code, verifier })
    }
  })

  const token = async (headers: Record<string, string>, body: Record<string, string>) => {
    const res = await app.inject({ method: 'POST', url: '/token', headers, payload: new URLSearchParams(body).toString() })
    if (res.statusCode !== 200) throw new Error(`/token answered ${res.statusCode}: ${res.body}`)
  }
  const clientCredentials = () => token(serviceHeaders, { grant_type: 'client_credentials' })
  const codeExchange = () => {
    const next = codes.pop()
    if (next === undefined) throw new Error('out of codes')
    return token(webHeaders, { grant_type: 'authorization_code', code: next.code, redirect_uri: redirectUri, code_verifier: next.verifier })
  }
  const microsPerRequest = async (request: () => Promise<void>) => {
    const started = performance.now()
    for (let i = 0; i < PER_ROUND; i++) await request()
    return ((performance.now() - started) * 1000) / PER_ROUND
  }

  await codeExchange()
  const rounds: Array<{ clientCredentials: number; codeExchange: number }> = []
  let timedRound: number
  try {
    for (let round = 0; round < ROUNDS; round++) {
      rounds.push({ clientCredentials: await microsPerRequest(clientCredentials), codeExchange: await microsPerRequest(codeExchange) })
    }
    // The statements in a round of their own, after V8 has optimised: timing them costs time too.
    timing = true
    timedRound = await microsPerRequest(codeExchange)
    timing = false
  } finally {
    await app.close()
  }

  // Round 1 warms V8 up; this VM drifts by up to 30 % within a minute, hence the median of the rest.
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const middle = sorted.length >> 1
    return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  }
  const warm = rounds.slice(1)
  const cc = median(warm.map((r) => r.clientCredentials))
  const exchange = median(warm.map((r) => r.codeExchange))
  console.log(`Node ${process.version}; ${PER_ROUND} requests per grant and round, one at a time, in process (inject)\n`)
  console.log('| round | client_credentials µs | code exchange µs | ratio of rates |\n| --- | --- | --- | --- |')
  rounds.forEach((r, i) => console.log(`| ${i + 1} | ${r.clientCredentials.toFixed(0)} | ${r.codeExchange.toFixed(0)} | ${(r.clientCredentials / r.codeExchange).toFixed(2)} |`))
  let sqlMicros = 0
  console.log(`\nSQLite statements of a code exchange, in a round of ${PER_ROUND} more with each statement timed (${timedRound.toFixed(0)} µs an exchange with the timing):\n\n| statement | µs per exchange | runs | µs each |\n| --- | --- | --- | --- |`)
  for (const [sql, t] of [...statements].sort((a, b) => b[1].micros - a[1].micros)) {
    sqlMicros += t.micros
    console.log(`| \`${sql}\` | ${(t.micros / PER_ROUND).toFixed(1)} | ${t.count} | ${(t.micros / t.count).toFixed(1)} |`)
  }
  const inSqlite = sqlMicros / PER_ROUND
  console.log(`\nMedians of rounds 2 to ${ROUNDS}: client_credentials ${cc.toFixed(0)} µs, a code exchange ${exchange.toFixed(0)} µs (a ratio of rates of ${(cc / exchange).toFixed(2)}).`)
  const checkpointing = (statements.get(statementKey('commit', 2000))?.micros ?? 0) / PER_ROUND
  console.log(
    `A ratio of 0.7 allows an exchange ${(cc / 0.7 - cc).toFixed(0)} µs more than client_credentials; it spends ${inSqlite.toFixed(0)} µs in SQLite ` +
      `(${(inSqlite - checkpointing).toFixed(0)} without the commits that checkpoint), and ${(exchange - cc - inSqlite).toFixed(0)} µs more besides.`,
  )
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
