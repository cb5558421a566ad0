import t from 'tap'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { connect } from '../../src/storage/connect.js'
import { repositories } from '../../src/storage/repositories.js'
import { auditOf, envFor, fails, json } from '../helpers/admin-cli.js'
import { runCliInProcess as runCli } from '../helpers/cli.js'

const DAY_MS = 86_400_000

async function withRepos<T>(env: { DATABASE_URL: string }, work: (repos: ReturnType<typeof repositories>) => Promise<T>): Promise<T> {
  const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
  try {
    return await work(repositories(store))
  } finally {
    await store.close()
  }
}

t.test('registration-token create prints {"token","expires_at"}, stores only the hash, and the token registers once', async (t) => {
  const env = { ...envFor(t), REGISTRATION: 'token' }
  const before = Date.now()
  const run = await runCli(['registration-token', 'create', '--json'], { env })
  t.equal(run.code, 0, run.stderr)
  const created = JSON.parse(run.stdout) as { token: string; expires_at: string }
  t.same(Object.keys(created), ['token', 'expires_at'])
  t.match(created.token, /^[A-Za-z0-9_-]{43}$/)
  const expiresAt = Date.parse(created.expires_at)
  t.ok(expiresAt >= before + DAY_MS && expiresAt <= Date.now() + DAY_MS, 'a day by default')
  t.match(auditOf(run), [{ audit: true, event: 'registration_token_created', expiresAt: created.expires_at, via: 'cli' }])
  t.notMatch(run.stderr, created.token, 'the token is never logged')
  t.notMatch(run.stderr, /note/, 'no note when REGISTRATION=token')

  await withRepos(env, async (repos) => {
    t.equal(await repos.initialAccessTokens.spend(created.token, Date.now()), false, 'stored as its hash, not the token')
    t.equal(await repos.initialAccessTokens.spend(sha256Hex(created.token), Date.now()), true)
    t.equal(await repos.initialAccessTokens.spend(sha256Hex(created.token), Date.now()), false, 'single use')
  })

  const short = await json(t, runCli, ['registration-token', 'create', '--expires-in', '120'], { env })
  t.ok(Math.abs(Date.parse(short.expires_at as string) - Date.now() - 120_000) < 5000, '--expires-in')
  const human = await runCli(['registration-token', 'create'], { env })
  t.match(human.stdout, /^token: [A-Za-z0-9_-]{43}\nexpires_at: \S+Z\n\(the token is shown only this once/)
  for (const bad of ['59', '2592001', 'soon', '1.5']) {
    await fails(t, runCli, ['registration-token', 'create', '--expires-in', bad], /--expires-in must be an integer number of seconds from 60 to 2592000/, { env })
  }
  const help = await runCli(['registration-token', 'create', '--help'], { env })
  t.equal(help.code, 0)
  t.match(help.stdout, /--expires-in/)
})

t.test('registration-token create notes when the server does not ask for the token', async (t) => {
  const run = await runCli(['registration-token', 'create', '--json'], { env: envFor(t) })
  t.equal(run.code, 0)
  t.ok(JSON.parse(run.stdout).token)
  t.match(run.stderr, /note: REGISTRATION is off/)
})

t.test('client list and show mark a self-registered client', async (t) => {
  const env = envFor(t)
  await json(t, runCli, ['client', 'add', '--name', 'Vetted', '--redirect-uri', 'https://app.example.com/cb'], { env })
  await withRepos(env, (repos) =>
    repos.clients.create({
      id: 'lk_agent', name: 'Agent', secretHash: null, isPublic: true, redirectUris: ['https://agent.example.com/cb'], postLogoutRedirectUris: [],
      grantTypes: ['authorization_code'], scopes: ['openid'], audience: null, resources: [], createdAt: Date.now(), selfRegistered: true, registrationTokenHash: sha256Hex('x'),
    }),
  )
  const list = await json(t, runCli, ['client', 'list'], { env })
  const items = list.items as Array<{ client_id: string; name: string; self_registered: boolean }>
  t.same(items.map((c) => [c.name, c.self_registered]).sort(), [['Agent', true], ['Vetted', false]])
  t.match((await runCli(['client', 'list'], { env })).stdout, /lk_agent {2}Agent {2}\(public\) {2}\(self-registered\)/)
  t.match(await json(t, runCli, ['client', 'show', 'lk_agent'], { env }), { self_registered: true })
})
