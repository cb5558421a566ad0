import { join } from 'node:path'
import t, { type Test } from 'tap'
import { connect } from '../../src/storage/connect.js'
import { repositories } from '../../src/storage/repositories.js'
import { runCli as runCliProcess, runCliInProcess, type CliRun } from '../helpers/cli.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import argon2 from 'argon2'

function envFor(t: Test) {
  const dir = t.testdir()
  return { DATABASE_URL: join(dir, 'db', 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys') }
}

async function withRepos<T>(env: { DATABASE_URL: string }, work: (r: ReturnType<typeof repositories>) => Promise<T>): Promise<T> {
  const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
  try {
    return await work(repositories(store))
  } finally {
    await store.close()
  }
}

async function counts(env: { DATABASE_URL: string }) {
  const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
  try {
    const n = async (table: 'users' | 'clients' | 'scopes') =>
      Number((await store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
    return { users: await n('users'), clients: await n('clients'), scopes: await n('scopes') }
  } finally {
    await store.close()
  }
}

type Runner = (args: string[], options?: { env?: Record<string, string>; input?: string }) => Promise<CliRun>
type CliCase = [string, (t: Test, runCli: Runner) => Promise<void>]

const HELP_COMMANDS = [[], ['user', 'add'], ['client', 'add'], ['scope', 'add'], ['keys', 'list'], ['migrate'], ['purge']]

async function printsHelp(t: Test, runCli: Runner, commands: string[][]) {
  for (const args of commands) {
    const run = await runCli([...args, '--help'])
    t.equal(run.code, 0, args.join(' '))
    t.match(run.stdout, /Usage: latchkey/)
  }
}

const cases: CliCase[] = [
  ['user add stores an argon2id hash and prints {id, username}', async (t, runCli) => {
    const env = envFor(t)
    const run = await runCli(['user', 'add', '--username', 'alice', '--password', 'correct horse', '--email', 'a@example.com', '--name', 'Alice', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    t.same(Object.keys(out).sort(), ['id', 'username'])
    t.match(out.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.equal(out.username, 'alice')
    const user = await withRepos(env, (r) => r.users.findByUsername('alice'))
    t.match(user?.passwordHash, /^\$argon2id\$/)
    t.ok(await argon2.verify(user!.passwordHash, 'correct horse'))
    t.equal(user?.email, 'a@example.com')
    t.equal(user?.name, 'Alice')
  }],

  ['user add reads the password from stdin', async (t, runCli) => {
    const env = envFor(t)
    const run = await runCli(['user', 'add', '--username', 'bob', '--password-stdin', '--json'], { env, input: 'from stdin pw\n' })
    t.equal(run.code, 0, run.stderr)
    const user = await withRepos(env, (r) => r.users.findByUsername('bob'))
    t.ok(await argon2.verify(user!.passwordHash, 'from stdin pw'))
  }],

  ['user add refuses bad input and writes nothing', async (t, runCli) => {
    const env = envFor(t)
    t.equal((await runCli(['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })).code, 0)
    const cases: Array<[string[], RegExp]> = [
      [['user', 'add', '--username', 'alice', '--password', 'another one'], /already taken/],
      [['user', 'add', '--username', 'carol'], /--password or --password-stdin/],
      [['user', 'add', '--username', 'carol', '--password', 'x', '--password-stdin'], /--password or --password-stdin/],
      [['user', 'add', '--username', 'carol', '--password', 'short'], /at least 8/],
      [['user', 'add', '--username', 'carol', '--password', 'long enough', '--email', 'nope'], /email/],
      [['user', 'add', '--username', ' carol', '--password', 'long enough'], /username/],
      [['user', 'add', '--password', 'long enough'], /--username/],
    ]
    for (const [args, message] of cases) {
      const run = await runCli(args, { env })
      t.not(run.code, 0, args.join(' '))
      t.match(run.stderr, message)
      t.equal(run.stderr.trim().split('\n').length, 1, 'one line on stderr')
      t.equal(run.stdout, '', 'nothing on stdout')
    }
    t.same(await counts(env), { users: 1, clients: 0, scopes: 4 })
  }],

  ['client add registers a confidential client and shows the secret once', async (t, runCli) => {
    const env = envFor(t)
    const run = await runCli(['client', 'add', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb', '--redirect-uri', 'https://app.example.com/cb2', '--scope', 'openid profile', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    t.same(Object.keys(out).sort(), ['client_id', 'client_secret'])
    t.match(out.client_id, /^lk_[A-Za-z0-9_-]{22}$/)
    t.ok(Buffer.from(out.client_secret, 'base64url').length >= 32, 'at least 256 bits')
    const client = await withRepos(env, (r) => r.clients.findById(out.client_id))
    t.equal(client?.secretHash, sha256Hex(out.client_secret), 'stored only as SHA-256')
    t.same(client?.grantTypes, ['authorization_code', 'refresh_token'], 'default grants')
    t.same(client?.redirectUris, ['https://app.example.com/cb', 'https://app.example.com/cb2'])
    t.same(client?.scopes, ['openid', 'profile'])
    t.equal(client?.isPublic, false)
  }],

  ['client add: a public client has no client_secret key', async (t, runCli) => {
    const env = envFor(t)
    const run = await runCli(['client', 'add', '--name', 'Native', '--public', '--redirect-uri', 'http://127.0.0.1:8080/cb', '--post-logout-redirect-uri', 'http://127.0.0.1:8080/bye', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    t.same(Object.keys(out), ['client_id'])
    const client = await withRepos(env, (r) => r.clients.findById(out.client_id))
    t.equal(client?.isPublic, true)
    t.equal(client?.secretHash, null)
    t.same(client?.postLogoutRedirectUris, ['http://127.0.0.1:8080/bye'])
    t.same(client?.scopes, ['openid', 'profile', 'email', 'offline_access'], 'default scopes are the built-in ones')
  }],

  ['client add: service and resource-server clients need no redirect URI', async (t, runCli) => {
    const env = envFor(t)
    t.equal((await runCli(['scope', 'add', 'source:w', '--description', 'Write sources'], { env })).code, 0)
    const svc = await runCli(['client', 'add', '--name', 'Svc', '--grant', 'client_credentials', '--scope', 'source:w', '--json'], { env })
    t.equal(svc.code, 0, svc.stderr)
    const api = await runCli(['client', 'add', '--name', 'API', '--audience', 'http://localhost:4000', '--json'], { env })
    t.equal(api.code, 0, api.stderr)
    const [s, a] = await withRepos(env, async (r) => [await r.clients.findById(JSON.parse(svc.stdout).client_id), await r.clients.findById(JSON.parse(api.stdout).client_id)])
    t.same(s?.grantTypes, ['client_credentials'])
    t.same(a?.grantTypes, [], 'no grant when --audience comes without --grant')
    t.equal(a?.audience, 'http://localhost:4000')
  }],

  ['client add --resource lists the audiences a client may request (repeatable, deduplicated)', async (t, runCli) => {
    const env = envFor(t)
    const run = await runCli(['client', 'add', '--name', 'Svc', '--grant', 'client_credentials', '--resource', 'https://orders.example.com/api', '--resource', 'urn:example:payments', '--resource', 'https://orders.example.com/api', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    t.same(Object.keys(out).sort(), ['client_id', 'client_secret'], '--json output unchanged')
    const plain = JSON.parse((await runCli(['client', 'add', '--name', 'Plain', '--grant', 'client_credentials', '--json'], { env })).stdout)
    const [client, other] = await withRepos(env, async (r) => [await r.clients.findById(out.client_id), await r.clients.findById(plain.client_id)])
    t.same(client?.resources, ['https://orders.example.com/api', 'urn:example:payments'])
    t.same(other?.resources, [], 'without --resource: none registered, so DEFAULT_AUDIENCE only')
  }],

  ['client add refuses bad input and writes nothing', async (t, runCli) => {
    const env = envFor(t)
    const cases: Array<[string[], RegExp]> = [
      [['client', 'add', '--name', 'X'], /--redirect-uri is required/],
      [['client', 'add', '--name', 'X', '--redirect-uri', '/relative'], /absolute/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'https://a.example/cb#f'], /fragment/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'javascript:alert(1)'], /refused scheme/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'data:text/html,x'], /refused scheme/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'file:///etc/passwd'], /refused scheme/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'http://evil.example/cb'], /https/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'https://a.example/cb', '--grant', 'implicit'], /unknown grant/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'https://a.example/cb', '--scope', 'openid nope'], /unknown scope/],
      [['client', 'add', '--name', 'X', '--public', '--grant', 'client_credentials'], /--public/],
      [['client', 'add', '--name', 'X', '--public', '--grant', 'password'], /--public/],
      [['client', 'add', '--name', 'X', '--public', '--audience', 'http://localhost:4000'], /--public/],
      [['client', 'add', '--name', 'X', '--audience', 'not a uri'], /--audience/],
      [['client', 'add', '--name', 'X', '--grant', 'client_credentials', '--resource', '/relative'], /--resource "\/relative" must be an absolute URI/],
      [['client', 'add', '--name', 'X', '--grant', 'client_credentials', '--resource', 'https://api.example.com/#f'], /--resource .* must be an absolute URI/],
      [['client', 'add', '--name', 'X', '--grant', 'client_credentials', '--resource', 'https://a.example.com', '--resource', 'not a uri'], /--resource "not a uri"/],
      [['client', 'add', '--name', 'X', '--redirect-uri', 'https://a.example/cb', '--post-logout-redirect-uri', 'ftp://x/y'], /refused scheme/],
      [['client', 'add', '--redirect-uri', 'https://a.example/cb'], /--name/],
    ]
    for (const [args, message] of cases) {
      const run = await runCli(args, { env })
      t.not(run.code, 0, args.join(' '))
      t.match(run.stderr, message, args.join(' '))
      t.equal(run.stderr.trim().split('\n').length, 1, 'one line on stderr')
    }
    t.same(await counts(env), { users: 0, clients: 0, scopes: 4 })
  }],

  ['scope add adds, then updates the description', async (t, runCli) => {
    const env = envFor(t)
    const first = await runCli(['scope', 'add', 'source:w', '--description', 'Write sources', '--json'], { env })
    t.same(JSON.parse(first.stdout), { name: 'source:w', description: 'Write sources' })
    const second = await runCli(['scope', 'add', 'source:w', '--description', 'Write your sources', '--json'], { env })
    t.same(JSON.parse(second.stdout), { name: 'source:w', description: 'Write your sources' })
    const bad = await runCli(['scope', 'add', 'bad"name', '--description', 'x'], { env })
    t.not(bad.code, 0)
    t.match(bad.stderr, /scope name/)
    const missing = await runCli(['scope', 'add', 'x'], { env })
    t.not(missing.code, 0)
    t.same(await withRepos(env, (r) => r.scopes.findByNames(['source:w', 'bad"name', 'x'])), [{ name: 'source:w', description: 'Write your sources' }])
  }],

  ['keys list shows the keys without creating any', async (t, runCli) => {
    const env = envFor(t)
    const empty = await runCli(['keys', 'list', '--json'], { env })
    t.same(JSON.parse(empty.stdout), [])
    const human = await runCli(['keys', 'list'], { env })
    t.equal(human.stdout, 'no keys\n')
  }],

  ['migrate prints what it applied', async (t, runCli) => {
    const env = envFor(t)
    const first = await runCli(['migrate', '--json'], { env })
    t.equal(first.code, 0, first.stderr)
    t.ok(JSON.parse(first.stdout).applied.length >= 1)
    const human = await runCli(['migrate'], { env })
    t.equal(human.stdout, 'nothing to apply\n')
  }],

  ['purge deletes expired rows, names every purged table and keeps live rows', async (t, runCli) => {
    const env = envFor(t)
    const added = await runCli(['client', 'add', '--name', 'App', '--redirect-uri', 'https://app.example.com/cb', '--json'], { env })
    const clientId = JSON.parse(added.stdout).client_id as string
    const transaction = (id: string, expiresAt: number) => ({
      id, browser_hash: 'b', csrf_hash: 'c', client_id: clientId, redirect_uri: 'https://app.example.com/cb', state: null,
      scopes: '[]', resource: 'https://api.example.com', code_challenge: null, code_challenge_method: null, force_consent: 0,
      user_id: null, auth_time: null, created_at: 0, expires_at: expiresAt, completed_at: null, nonce: null, login_hint: null,
      max_age: null, address: '192.0.2.1',
    })
    const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
    await store.db.insertInto('authorization_transactions').values([transaction('old', 1000), transaction('live', Date.now() + 600_000)]).execute()
    await store.close()

    const run = await runCli(['purge', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const { deleted } = JSON.parse(run.stdout)
    t.same(Object.keys(deleted), [
      'authorization_transactions', 'account_sign_ins', 'login_sessions', 'device_authorizations', 'access_tokens', 'revoked_jtis', 'authorization_codes',
      'refresh_tokens', 'refresh_token_families', 'login_attempts', 'failure_counters', 'initial_access_tokens', 'clients',
      'totp_factors',
    ], 'every purged table, 0 included')
    t.equal(deleted.authorization_transactions, 1)
    t.equal(Object.values(deleted).reduce((a: number, b) => a + (b as number), 0), 1)
    const left = connect({ kind: 'sqlite', path: env.DATABASE_URL })
    t.same((await left.db.selectFrom('authorization_transactions').select('id').execute()).map((r) => r.id), ['live'])
    await left.close()

    const human = await runCli(['purge'], { env })
    t.equal(human.code, 0, human.stderr)
    t.match(human.stdout, /^authorization_transactions +0\n/)
    t.match(human.stdout, /\ntotp_factors +0\n$/)
  }],

  ['purge refuses a bad configuration with one line', async (t, runCli) => {
    const run = await runCli(['purge', '--json'], { env: { DATABASE_URL: 'mysql://x/y' } })
    t.equal(run.code, 1)
    t.equal(run.stdout, '')
    t.match(run.stderr, /^latchkey: DATABASE_URL .*\n$/)
  }],

  ['every command has --help', (t, runCli) => printsHelp(t, runCli, HELP_COMMANDS)],

  ['a bad configuration stops the CLI with one line', async (t, runCli) => {
    const run = await runCli(['migrate'], { env: { DATABASE_URL: 'mysql://x/y' } })
    t.equal(run.code, 1)
    t.match(run.stderr, /^latchkey: DATABASE_URL .*\n$/)
  }],
]

// Every case runs in-process: tap's coverage sees the CLI code there (coverage from a child
// under another loader would be wrong), and no process start-up is paid.
t.test('in-process', async (t) => {
  for (const [name, run] of cases) t.test(name, (t) => run(t, runCliInProcess))
})

// A few run again as a spawned process, as an operator runs the CLI: argv, real stdin, stdout
// and stderr, exit codes, and the production password hashing.
const SPAWNED = new Set([
  'user add reads the password from stdin',
  'client add registers a confidential client and shows the secret once',
  'a bad configuration stops the CLI with one line',
])

const spawnedCases = cases.filter(([name]) => SPAWNED.has(name))
if (spawnedCases.length !== SPAWNED.size) throw new Error('a name in SPAWNED matches no case')

t.test('spawned', async (t) => {
  for (const [name, run] of spawnedCases) t.test(name, (t) => run(t, runCliProcess))
  t.test('--help prints the usage and exits 0', (t) => printsHelp(t, runCliProcess, [['user', 'add']]))
})
