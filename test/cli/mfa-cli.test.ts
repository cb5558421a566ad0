import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { totpCode, totpStep, secondFactors } from '../../src/accounts/totp.js'
import { NO_AUDIT } from '../../src/audit.js'
import { systemClock } from '../../src/clock.js'
import { loadOrCreateTotpKey, totpSecretBox } from '../../src/keys/totp-key.js'
import { connect } from '../../src/storage/connect.js'
import { repositories } from '../../src/storage/repositories.js'
import { auditOf, envFor, fails, json, type Runner } from '../helpers/admin-cli.js'
import { runCli, runCliInProcess } from '../helpers/cli.js'

type CliCase = [string, (t: Test, runCli: Runner) => Promise<void>]

async function withDb<T>(env: { DATABASE_URL: string }, work: (store: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

/** A KEYS_DIR as the server leaves it at its first start: with totp.key. */
async function serverEnv(t: Test) {
  const env = envFor(t)
  await loadOrCreateTotpKey(env.KEYS_DIR)
  return env
}

const cases: CliCase[] = [
  ['user totp add prints the secret, its URI and ten recovery codes once; the server accepts its codes', async (t, runCli) => {
    const env = { ...(await serverEnv(t)), BRAND_NAME: 'Acme Sign-in' }
    const user = await json(t, runCli, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
    const run = await runCli(['user', 'totp', 'add', '--username', 'alice', '--json'], { env })
    t.equal(run.code, 0, run.stderr)
    const added = JSON.parse(run.stdout) as { secret: string; otpauth_uri: string; recovery_codes: string[] }
    t.same(Object.keys(added), ['secret', 'otpauth_uri', 'recovery_codes'])
    t.match(added.secret, /^[A-Z2-7]{32}$/)
    const uri = new URL(added.otpauth_uri)
    t.equal(decodeURIComponent(uri.pathname), '/Acme Sign-in:alice')
    t.equal(uri.searchParams.get('issuer'), 'Acme Sign-in')
    t.equal(uri.searchParams.get('secret'), added.secret)
    t.equal(added.recovery_codes.length, 10)
    t.match(auditOf(run), [{ audit: true, event: 'mfa_enrolled', userId: user.id, method: 'totp', actor: 'cli', via: 'cli' }])
    t.notMatch(run.stderr, added.secret, 'no secret in the audit line')

    // The server's key in KEYS_DIR, private; the database holds the secret sealed only.
    t.equal((await stat(join(env.KEYS_DIR, 'totp.key'))).mode & 0o777, 0o600)
    t.notMatch(await readFile(env.DATABASE_URL, 'latin1'), added.secret)
    await withDb(env, async (store) => {
      const factors = secondFactors({ factors: repositories(store).secondFactors, secrets: totpSecretBox(env.KEYS_DIR), clock: systemClock, issuer: 'x', audit: NO_AUDIT })
      t.equal(await factors.verifyTotp(user.id as string, totpCode(added.secret, totpStep(Date.now()))), true, 'a code of the app signs in')
      t.equal(await factors.useRecoveryCode(user.id as string, added.recovery_codes[0]!), true)
    })

    await fails(t, runCli, ['user', 'totp', 'add', '--username', 'alice'], /already has an authenticator app/, { env })
    const human = await runCli(['user', 'totp', 'add', '--username', 'nobody'], { env })
    t.equal(human.code, 1)
    t.match(human.stderr, /no user "nobody"/)
  }],

  ['user totp add without KEYS_DIR/totp.key fails and creates nothing: it must seal under the server\'s key', async (t, runCli) => {
    const env = envFor(t)
    await json(t, runCli, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
    const keysBefore = await readdir(env.KEYS_DIR).catch(() => [])
    await fails(t, runCli, ['user', 'totp', 'add', '--username', 'alice', '--json'], /KEYS_DIR\/totp\.key not found .*run the CLI with the server's KEYS_DIR; the server creates it at its first start/, { env })
    t.same(await readdir(env.KEYS_DIR).catch(() => []), keysBefore, 'no key file created')
    t.same(await json(t, runCli, ['user', 'mfa', 'list', '--username', 'alice'], { env }), { username: 'alice', totp: null, passkeys: [], recovery_codes_left: 0 }, 'nothing enrolled')
    // An enrolment begun on the account page and not confirmed yet: listed as such, no factor.
    const user = await json(t, runCli, ['user', 'show', '--username', 'alice'], { env })
    await withDb(env, (store) => store.db.insertInto('totp_factors').values({ user_id: user.id as string, secret: 'v1:sealed', created_at: Date.UTC(2026, 0, 2), confirmed_at: null, last_step: null }).execute())
    t.same(await json(t, runCli, ['user', 'mfa', 'list', '--username', 'alice'], { env }), {
      username: 'alice',
      totp: { confirmed: false, created_at: '2026-01-02T00:00:00.000Z', confirmed_at: null },
      passkeys: [],
      recovery_codes_left: 0,
    }, 'an unconfirmed enrolment is not a confirmed app')
  }],

  ['user mfa list shows factors without secrets; user mfa reset removes them all and ends the sessions', async (t, runCli) => {
    const env = await serverEnv(t)
    const user = await json(t, runCli, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
    t.same(await json(t, runCli, ['user', 'mfa', 'list', '--username', 'alice'], { env }), { username: 'alice', totp: null, passkeys: [], recovery_codes_left: 0 })
    t.equal((await runCli(['user', 'mfa', 'list', '--username', 'alice'], { env })).stdout, 'authenticator app: none\npasskeys: 0\nrecovery codes left: 0\n')
    const added = await json(t, runCli, ['user', 'totp', 'add', '--username', 'alice'], { env })
    const app = await json(t, runCli, ['client', 'add', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb'], { env })
    await withDb(env, async (store) => {
      const passkey = { user_id: user.id as string, public_key: 'pk', counter: 0, transports: '[]', backed_up: 0, created_at: Date.UTC(2026, 0, 2) }
      await store.db.insertInto('passkeys').values([
        { ...passkey, credential_id: 'c1', name: 'Laptop', last_used_at: Date.UTC(2026, 0, 3) },
        { ...passkey, credential_id: 'c2', name: 'Phone', last_used_at: null },
      ]).execute()
      await store.db.insertInto('login_sessions').values({ id_hash: 's1', user_id: user.id as string, auth_time: 0, created_at: 0, expires_at: Date.now() + 3_600_000 }).execute()
      // A refresh-token family from a two-factor sign-in.
      await store.db.insertInto('refresh_token_families').values({ id: 'f1', client_id: app.client_id as string, user_id: user.id as string, scopes: '[]', audience: 'https://api.example.com', auth_time: 0, amr: JSON.stringify(['pwd', 'otp', 'mfa']), began_with_openid: 0, created_at: 0, revoked_at: null }).execute()
    })
    const listed = await runCli(['user', 'mfa', 'list', '--username', 'alice', '--json'], { env })
    const view = JSON.parse(listed.stdout) as Record<string, unknown>
    t.match(view, {
      username: 'alice',
      totp: { confirmed: true, created_at: String, confirmed_at: String },
      passkeys: [
        { name: 'Laptop', created_at: '2026-01-02T00:00:00.000Z', last_used_at: '2026-01-03T00:00:00.000Z' },
        { name: 'Phone', created_at: '2026-01-02T00:00:00.000Z', last_used_at: null },
      ],
      recovery_codes_left: 10,
    })
    t.same(Object.keys((view.passkeys as object[])[0]!), ['name', 'created_at', 'last_used_at'], 'no credential id or key')
    t.notMatch(listed.stdout, added.secret as string)
    const human = (await runCli(['user', 'mfa', 'list', '--username', 'alice'], { env })).stdout
    t.match(human, /^authenticator app: confirmed, added \S+\npasskeys: 2\n {2}Laptop {2}added 2026-01-02T00:00:00.000Z {2}last used 2026-01-03T00:00:00.000Z\n {2}Phone .* last used never\nrecovery codes left: 10\n$/)

    const reset = await runCli(['user', 'mfa', 'reset', '--username', 'alice', '--json'], { env })
    t.equal(reset.code, 0, reset.stderr)
    t.same(JSON.parse(reset.stdout), { removed: { totp: true, passkeys: 2, recovery_codes: 10 }, sessions_ended: 1, refresh_token_families_revoked: 1 })
    t.match(auditOf(reset), [
      { event: 'mfa_reset', userId: user.id, actor: 'cli' },
      { event: 'sessions_revoked', userId: user.id, sessions: 1, actor: 'cli' },
      { event: 'grants_revoked', userId: user.id, consents: 0, families: 1, actor: 'cli' },
    ])
    await withDb(env, async (store) => t.ok((await store.db.selectFrom('refresh_token_families').select('revoked_at').executeTakeFirstOrThrow()).revoked_at, 'the family is revoked'))
    t.same(await json(t, runCli, ['user', 'mfa', 'list', '--username', 'alice'], { env }), { username: 'alice', totp: null, passkeys: [], recovery_codes_left: 0 })
    await withDb(env, async (store) => t.same(await store.db.selectFrom('login_sessions').selectAll().execute(), []))
    t.equal((await runCli(['user', 'mfa', 'reset', '--username', 'alice'], { env })).stdout, 'removed: authenticator app no, 0 passkey(s), 0 recovery code(s); ended 0 session(s); revoked 0 refresh-token family(ies)\n')
    // After a reset a new app can be added.
    await json(t, runCli, ['user', 'totp', 'add', '--username', 'alice'], { env })

    for (const command of [['mfa', 'list'], ['mfa', 'reset'], ['totp', 'add']]) {
      await fails(t, runCli, ['user', ...command, '--username', 'nobody'], /no user "nobody"/, { env })
      await fails(t, runCli, ['user', ...command], /required option '--username/, { env })
    }
  }],

  ['the new commands have --help', async (t, runCli) => {
    for (const args of [['user', 'totp', 'add'], ['user', 'mfa', 'list'], ['user', 'mfa', 'reset']]) {
      const run = await runCli([...args, '--help'])
      t.equal(run.code, 0, args.join(' '))
      t.match(run.stdout, new RegExp(`Usage: latchkey ${args.join(' ')}`))
    }
  }],
]

t.test('in-process', async (t) => {
  for (const [name, run] of cases) t.test(name, (t) => run(t, runCliInProcess))
})

t.test('spawned: user totp add --json is one JSON value on stdout', async (t) => {
  const env = await serverEnv(t)
  t.equal((await runCli(['user', 'add', '--username', 'alice', '--password-stdin'], { env, input: 'correct horse\n' })).code, 0)
  const run = await runCli(['user', 'totp', 'add', '--username', 'alice', '--json'], { env })
  t.equal(run.code, 0, run.stderr)
  t.match(JSON.parse(run.stdout), { secret: /^[A-Z2-7]{32}$/, otpauth_uri: /^otpauth:\/\/totp\//, recovery_codes: Array })
})
