import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { DEMO_CLIENT_FILE } from '../../src/cli/program.js'
import { s256 } from '../../src/oauth/pkce.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { connect } from '../../src/storage/connect.js'
import { repositories } from '../../src/storage/repositories.js'
import { runCli, runCliInProcess } from '../helpers/cli.js'
import { testPasswords } from '../helpers/passwords.js'

interface DemoJson {
  user: { id: string; username: string; password: string }
  clients: {
    public: { client_id: string; redirect_uri: string; scope: string }
    example_app: { client_id: string; client_secret: string; redirect_uri: string; post_logout_redirect_uri: string; scope: string }
  }
  authorize_url: string
  code_verifier: string
  client_file: string
}

function setup(t: Test, env: Record<string, string> = {}) {
  const dir = t.testdir()
  const clientFile = join(dir, 'examples', '.demo-client.json')
  return { env: { DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), ...env }, clientFile, dir }
}

async function demo(t: Test, s: ReturnType<typeof setup>, extra: string[] = []): Promise<DemoJson> {
  const run = await runCliInProcess(['demo', '--json', '--client-file', s.clientFile, ...extra], { env: s.env })
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout.trim().split('\n').length, 1, 'exactly one JSON value on stdout')
  return JSON.parse(run.stdout) as DemoJson
}

async function withRepos<T>(path: string, work: (r: ReturnType<typeof repositories>) => Promise<T>): Promise<T> {
  const store = connect({ kind: 'sqlite', path })
  try {
    return await work(repositories(store))
  } finally {
    await store.close()
  }
}

t.test('demo --json prints the user, both clients and a ready PKCE authorize URL', async (t) => {
  const s = setup(t, { PORT: '3456' })
  const out = await demo(t, s)
  t.same(Object.keys(out).sort(), ['authorize_url', 'client_file', 'clients', 'code_verifier', 'user'])
  t.match(out.user, { id: /^[0-9a-f-]{36}$/, username: 'demo', password: /^[\w-]{16}$/ })
  t.match(out.clients.public, { client_id: /^lk_/, redirect_uri: 'http://127.0.0.1:8400/callback' })
  t.notOk('client_secret' in out.clients.public, 'the public client has no secret')
  t.match(out.clients.example_app, {
    client_id: /^lk_/,
    client_secret: /^[\w-]{43}$/,
    redirect_uri: 'http://localhost:5000/callback',
    post_logout_redirect_uri: 'http://localhost:5000/',
    scope: 'openid profile email offline_access source:w',
  })
  const url = new URL(out.authorize_url)
  t.equal(url.origin + url.pathname, 'http://localhost:3456/authorize', 'the issuer follows PORT')
  t.match(Object.fromEntries(url.searchParams), {
    response_type: 'code',
    client_id: out.clients.public.client_id,
    redirect_uri: out.clients.public.redirect_uri,
    scope: 'openid profile email source:w',
    state: /^[\w-]{22,}$/,
    code_challenge: s256(out.code_verifier),
    code_challenge_method: 'S256',
  })

  await withRepos(s.env.DATABASE_URL, async (repos) => {
    const user = await repos.users.findById(out.user.id)
    t.ok(await testPasswords.verify(user?.passwordHash, out.user.password), 'the printed password signs in')
    const app = await repos.clients.findById(out.clients.example_app.client_id)
    t.match(app, {
      isPublic: false,
      secretHash: sha256Hex(out.clients.example_app.client_secret),
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'source:w'],
      resources: ['http://localhost:4000'],
      redirectUris: ['http://localhost:5000/callback'],
      postLogoutRedirectUris: ['http://localhost:5000/'],
    })
    t.match(await repos.clients.findById(out.clients.public.client_id), { isPublic: true, secretHash: null, redirectUris: ['http://127.0.0.1:8400/callback'] })
    t.same(await repos.scopes.findByNames(['source:w']), [{ name: 'source:w', description: 'Create sources in the demo API' }])
  })
})

t.test('demo writes the example app\'s client file, private', async (t) => {
  const s = setup(t)
  const out = await demo(t, s)
  t.equal(out.client_file, s.clientFile)
  t.equal(statSync(s.clientFile).mode & 0o777, 0o600, 'it holds a secret: 0600')
  t.same(JSON.parse(readFileSync(s.clientFile, 'utf8')), {
    issuer: 'http://localhost:3000',
    client_id: out.clients.example_app.client_id,
    client_secret: out.clients.example_app.client_secret,
    redirect_uri: 'http://localhost:5000/callback',
    post_logout_redirect_uri: 'http://localhost:5000/',
    scope: 'openid profile email offline_access source:w',
    resource: 'http://localhost:4000',
  })
  t.equal(DEMO_CLIENT_FILE.endsWith('/examples/.demo-client.json'), true, 'by default where the example app reads it')
  t.match(readFileSync(new URL('../../.gitignore', import.meta.url), 'utf8'), /^examples\/\.demo-client\.json$/m, 'and never committed')
})

t.test('a rerun keeps the ids, resets the password and the secret, and rewrites the file', async (t) => {
  const s = setup(t)
  const first = await demo(t, s)
  const second = await demo(t, s)
  t.equal(second.user.id, first.user.id)
  t.equal(second.clients.public.client_id, first.clients.public.client_id)
  t.equal(second.clients.example_app.client_id, first.clients.example_app.client_id)
  t.not(second.user.password, first.user.password, 'a new password')
  t.not(second.clients.example_app.client_secret, first.clients.example_app.client_secret, 'a new secret')
  t.not(second.code_verifier, first.code_verifier)
  await withRepos(s.env.DATABASE_URL, async (repos) => {
    const user = await repos.users.findById(first.user.id)
    t.ok(await testPasswords.verify(user?.passwordHash, second.user.password), 'the new password works')
    t.notOk(await testPasswords.verify(user?.passwordHash, first.user.password), 'the old one does not')
    t.equal((await repos.clients.findById(first.clients.example_app.client_id))?.secretHash, sha256Hex(second.clients.example_app.client_secret), 'only the new secret is stored')
    t.equal((await repos.clients.findByName('latchkey demo (public client, PKCE)')).length, 1, 'no second public client')
  })
  t.equal((JSON.parse(readFileSync(s.clientFile, 'utf8')) as { client_secret: string }).client_secret, second.clients.example_app.client_secret)
})

t.test('another --app-url registers another example-app client; the user and public client stay', async (t) => {
  const s = setup(t)
  const first = await demo(t, s)
  const other = await demo(t, s, ['--app-url', 'http://localhost:5100'])
  t.equal(other.user.id, first.user.id)
  t.equal(other.clients.public.client_id, first.clients.public.client_id)
  t.not(other.clients.example_app.client_id, first.clients.example_app.client_id)
  t.equal(other.clients.example_app.redirect_uri, 'http://localhost:5100/callback')
})

t.test('demo without --json explains the next steps; a bad --app-url is one line on stderr', async (t) => {
  const s = setup(t)
  const run = await runCliInProcess(['demo', '--client-file', s.clientFile], { env: s.env })
  t.equal(run.code, 0)
  t.match(run.stdout, /^The demo is set up\./)
  t.match(run.stdout, /user: +demo\n +password: +\S{16}\n/)
  t.match(run.stdout, `secret written to ${s.clientFile}`)
  t.match(run.stdout, 'npm run example')
  t.match(run.stdout, /-d code_verifier=[\w-]{43} -d code=CODE/)
  t.notMatch(run.stdout, /client_secret/, 'the secret itself only in the file')
  t.match(run.stderr, /"audit":true,"event":"user_created"/, 'audit events on stderr')
  const again = await runCliInProcess(['demo', '--client-file', s.clientFile], { env: s.env })
  t.match(again.stdout, /^The demo already existed: it has a new password and a new client secret\./)
  t.match(again.stderr, /"event":"user_password_set"/)
  t.match(again.stderr, /"event":"client_secret_rotated"/)

  for (const bad of ['http://localhost:5000/app', 'not a url', 'ftp://localhost:5000']) {
    const refused = await runCliInProcess(['demo', '--app-url', bad, '--client-file', join(s.dir, 'other.json')], { env: s.env })
    t.equal(refused.code, 1, bad)
    t.match(refused.stderr, /^latchkey: --app-url .* (must be an origin|is not a URL)/)
    t.equal(refused.stderr.trim().split('\n').length, 1)
  }
})

t.test('demo runs as `npx latchkey demo` does (its own process)', async (t) => {
  const s = setup(t)
  const run = await runCli(['demo', '--json', '--client-file', s.clientFile], { env: s.env })
  t.equal(run.code, 0, run.stderr)
  t.match(JSON.parse(run.stdout), { user: { username: 'demo' } })
  const help = await runCliInProcess(['demo', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, '--app-url')
})

t.test('demo refuses a server that is not on this machine, and a real user called demo', async (t) => {
  const remote = setup(t, { ISSUER: 'https://auth.example.com' })
  const refused = await runCliInProcess(['demo', '--json', '--client-file', remote.clientFile], { env: remote.env })
  t.equal(refused.code, 1)
  t.equal(refused.stderr, 'latchkey: latchkey demo is for a local trial: ISSUER https://auth.example.com is not on this machine\n')
  t.equal(refused.stdout, '')

  const s = setup(t)
  const added = await runCliInProcess(['user', 'add', '--username', 'demo', '--password', 'a real person’s password', '--json'], { env: s.env })
  t.equal(added.code, 0, added.stderr)
  const clash = await runCliInProcess(['demo', '--json', '--client-file', s.clientFile], { env: s.env })
  t.equal(clash.code, 1)
  t.match(clash.stderr, /^latchkey: a user "demo" exists that latchkey demo did not create; the demo leaves it alone\n$/)
  const user = await withRepos(s.env.DATABASE_URL, (r) => r.users.findByUsername('demo'))
  t.ok(await testPasswords.verify(user?.passwordHash, 'a real person’s password'), 'its password is unchanged')
  t.equal((await withRepos(s.env.DATABASE_URL, (r) => r.scopes.findByNames(['source:w']))).length, 0, 'and nothing else was written')
})
