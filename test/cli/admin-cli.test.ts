import t, { type Test } from 'tap'
import { connect } from '../../src/storage/connect.js'
import { runCliInProcess } from '../helpers/cli.js'
import { auditOf, envFor, fails, json, type Runner } from '../helpers/admin-cli.js'

async function tableCounts(env: { DATABASE_URL: string }) {
  const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
  try {
    const counts: Record<string, number> = {}
    for (const table of ['users', 'clients', 'scopes', 'consents', 'login_sessions', 'refresh_token_families'] as const) {
      counts[table] = (await store.db.selectFrom(table).selectAll().execute()).length
    }
    return counts
  } finally {
    await store.close()
  }
}

type CliCase = [string, (t: Test, runCli: Runner) => Promise<void>]

const HELP = [
  ['user', 'list'], ['user', 'show'], ['user', 'update'], ['user', 'set-password'], ['user', 'disable'], ['user', 'enable'], ['user', 'remove'],
  ['client', 'list'], ['client', 'show'], ['client', 'update'], ['client', 'rotate-secret'], ['client', 'remove'],
  ['scope', 'list'], ['scope', 'remove'], ['grants', 'list'], ['grants', 'revoke'], ['sessions', 'list'], ['sessions', 'revoke'],
]

const cases: CliCase[] = [
  ['user list pages by username with --limit and --after, and filters with --search', async (t, runCli) => {
    const env = envFor(t)
    for (const name of ['dave', 'alice', 'carol', 'bob']) await json(t, runCli, ['user', 'add', '--username', name, '--password', 'correct horse', '--email', `${name}@example.com`], { env })
    const first = await json(t, runCli, ['user', 'list', '--limit', '3'], { env })
    t.same((first.items as Array<{ username: string }>).map((u) => u.username), ['alice', 'bob', 'carol'])
    t.type(first.next, 'string')
    const second = await json(t, runCli, ['user', 'list', '--limit', '3', '--after', first.next as string], { env })
    t.same(second, { items: [second.items as unknown[]][0], next: null })
    t.same((second.items as Array<{ username: string }>).map((u) => u.username), ['dave'])
    t.same(((await json(t, runCli, ['user', 'list', '--search', 'CAR'], { env })).items as Array<{ username: string }>).map((u) => u.username), ['carol'])
    const human = await runCli(['user', 'list', '--limit', '1'], { env })
    t.match(human.stdout, /^alice {2}[0-9a-f-]{36}\nmore: --after \S+\n$/)
    for (const limit of ['0', '501', 'x', '1.5']) await fails(t, runCli, ['user', 'list', '--limit', limit], /--limit must be an integer from 1 to 500/, { env })
    await fails(t, runCli, ['user', 'list', '--after', 'not a cursor'], /not a cursor/, { env })
  }],

  ['user show, update, set-password, disable, enable and remove', async (t, runCli) => {
    const env = envFor(t)
    const added = await json(t, runCli, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
    await json(t, runCli, ['user', 'add', '--username', 'bob', '--password', 'correct horse'], { env })
    t.match(await json(t, runCli, ['user', 'show', '--username', 'alice'], { env }), { id: added.id, username: 'alice', email: null, disabled: false })
    t.match((await runCli(['user', 'show', '--username', 'alice'], { env })).stdout, /^id: .*\nusername: alice\nemail: -\n/)
    await fails(t, runCli, ['user', 'show', '--username', 'nobody'], /no user "nobody"/, { env })

    const update = await runCli(['user', 'update', '--username', 'alice', '--new-username', 'alice2', '--email', 'a@example.com', '--name', 'Alice', '--json'], { env })
    t.match(JSON.parse(update.stdout), { username: 'alice2', email: 'a@example.com', name: 'Alice' })
    t.match(auditOf(update), [{ audit: true, event: 'user_updated', userId: added.id, fields: ['username', 'email', 'name'], actor: 'cli', via: 'cli' }])
    await fails(t, runCli, ['user', 'update', '--username', 'alice2', '--new-username', 'bob'], /already taken/, { env })
    await fails(t, runCli, ['user', 'update', '--username', 'alice2'], /nothing to update/, { env })
    await fails(t, runCli, ['user', 'update', '--username', 'alice2', '--email', 'nope'], /not an email/, { env })
    t.match(await json(t, runCli, ['user', 'update', '--username', 'alice2', '--email', ''], { env }), { email: null }, 'an empty email clears it')

    await fails(t, runCli, ['user', 'set-password', '--username', 'alice2', '--password-stdin'], /at least 8/, { env, input: 'short\n' })
    await fails(t, runCli, ['user', 'set-password', '--username', 'alice2'], /--password-stdin/, { env })
    const set = await runCli(['user', 'set-password', '--username', 'alice2', '--password-stdin', '--json'], { env, input: 'a brand new password\n' })
    t.equal(set.code, 0, set.stderr)
    t.notMatch(set.stderr + set.stdout, /brand new/, 'the password is printed nowhere')
    t.match(auditOf(set), [{ event: 'user_password_set', userId: added.id, actor: 'cli' }])

    const disabled = await runCli(['user', 'disable', '--username', 'alice2', '--json'], { env })
    t.match(JSON.parse(disabled.stdout), { disabled: true, disabled_at: /T/ })
    t.match(auditOf(disabled), [{ event: 'user_disabled', actor: 'cli' }])
    t.equal(auditOf(await runCli(['user', 'disable', '--username', 'alice2'], { env })).length, 0, 'a second disable records nothing')
    t.equal((await runCli(['user', 'enable', '--username', 'alice2'], { env })).stdout, 'alice2: enabled\n')

    const removed = await runCli(['user', 'remove', '--username', 'alice2', '--json'], { env })
    t.same(JSON.parse(removed.stdout), { id: added.id, username: 'alice2' })
    t.match(auditOf(removed), [{ event: 'user_removed', userId: added.id, actor: 'cli' }])
    await fails(t, runCli, ['user', 'remove', '--username', 'alice2'], /no user/, { env })
    t.equal((await tableCounts(env)).users, 1)
  }],

  ['client list, show, update, rotate-secret and remove', async (t, runCli) => {
    const env = envFor(t)
    const web = await json(t, runCli, ['client', 'add', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb'], { env })
    const id = web.client_id as string
    await json(t, runCli, ['client', 'add', '--name', 'Batch', '--grant', 'client_credentials', '--scope', ''], { env })
    const list = await json(t, runCli, ['client', 'list', '--search', 'web'], { env })
    t.match(list, { items: [{ client_id: id, name: 'Web', public: false, admin: false }], next: null })
    t.match(await json(t, runCli, ['client', 'show', id], { env }), { client_id: id, redirect_uris: ['https://app.example.com/cb'], grants: ['authorization_code', 'refresh_token'] })
    await fails(t, runCli, ['client', 'show', 'lk_nope'], /no client "lk_nope"/, { env })

    const updated = await runCli(['client', 'update', id, '--name', 'Web 2', '--redirect-uri', 'https://app.example.com/cb2', '--post-logout-redirect-uri', 'https://app.example.com/bye', '--scope', 'openid', '--resource', 'https://api.example.com', '--json'], { env })
    t.match(JSON.parse(updated.stdout), { name: 'Web 2', redirect_uris: ['https://app.example.com/cb2'], post_logout_redirect_uris: ['https://app.example.com/bye'], scopes: ['openid'], resources: ['https://api.example.com'] })
    t.match(auditOf(updated), [{ event: 'client_updated', clientId: id, actor: 'cli' }])
    t.match(await json(t, runCli, ['client', 'update', id, '--no-post-logout-redirect-uris', '--no-resources'], { env }), { post_logout_redirect_uris: [], resources: [] })
    await fails(t, runCli, ['client', 'update', id, '--grant', 'implicit'], /unknown grant/, { env })
    await fails(t, runCli, ['client', 'update', id, '--scope', 'nope'], /unknown scope/, { env })
    await fails(t, runCli, ['client', 'update', id, '--scope', 'latchkey:admin'], /reserved/, { env })
    await fails(t, runCli, ['client', 'update', id, '--redirect-uri', 'http://evil.example.com/cb'], /--redirect-uri/, { env })
    await fails(t, runCli, ['client', 'update', id], /nothing to update/, { env })
    t.match(await json(t, runCli, ['client', 'show', id], { env }), { name: 'Web 2', scopes: ['openid'] }, 'the refused updates changed nothing')

    const rotated = await runCli(['client', 'rotate-secret', id, '--grace', '600', '--json'], { env })
    const out = JSON.parse(rotated.stdout) as { client_secret: string; previous_secret_expires_at: string }
    t.match(out.client_secret, /^[A-Za-z0-9_-]{43}$/)
    t.ok(Date.parse(out.previous_secret_expires_at) > Date.now() + 590_000)
    t.notMatch(rotated.stderr, new RegExp(out.client_secret), 'the secret is not in the audit line')
    t.match(auditOf(rotated), [{ event: 'client_secret_rotated', clientId: id, graceSeconds: 600, actor: 'cli' }])
    t.match((await runCli(['client', 'rotate-secret', id], { env })).stdout, /client_secret: \S+\n\(the secret is shown only this once; the old secret no longer works\)/)
    await fails(t, runCli, ['client', 'rotate-secret', id, '--grace', '-5'], /--grace/, { env })
    await fails(t, runCli, ['client', 'rotate-secret', id, '--grace', '2592001'], /--grace/, { env })
    const spa = await json(t, runCli, ['client', 'add', '--name', 'Spa', '--public', '--redirect-uri', 'https://spa.example.com/cb'], { env })
    await fails(t, runCli, ['client', 'rotate-secret', spa.client_id as string], /public/, { env })

    t.same(await json(t, runCli, ['client', 'remove', id], { env }), { client_id: id })
    await fails(t, runCli, ['client', 'remove', id], /no client/, { env })
    t.equal((await tableCounts(env)).clients, 2)
  }],

  ['client add --require-mfa, and client update --require-mfa / --no-require-mfa', async (t, runCli) => {
    const env = envFor(t)
    const strict = await json(t, runCli, ['client', 'add', '--name', 'Bank', '--redirect-uri', 'https://bank.example.com/cb', '--require-mfa'], { env })
    const id = strict.client_id as string
    t.match(await json(t, runCli, ['client', 'show', id], { env }), { client_id: id, require_mfa: true })
    t.match((await runCli(['client', 'show', id], { env })).stdout, /require_mfa: true/)
    t.match((await runCli(['client', 'list'], { env })).stdout, /Bank {2}\(requires mfa\)/)
    const plain = await json(t, runCli, ['client', 'add', '--name', 'Shop', '--redirect-uri', 'https://shop.example.com/cb'], { env })
    t.match(await json(t, runCli, ['client', 'show', plain.client_id as string], { env }), { require_mfa: false }, 'off unless asked')

    const relaxed = await runCli(['client', 'update', id, '--no-require-mfa', '--json'], { env })
    t.match(JSON.parse(relaxed.stdout), { require_mfa: false, name: 'Bank' })
    t.match(auditOf(relaxed), [{ event: 'client_updated', clientId: id, fields: ['requireMfa'], actor: 'cli' }])
    t.match(await json(t, runCli, ['client', 'update', id, '--name', 'Bank 2'], { env }), { require_mfa: false, name: 'Bank 2' }, 'another change leaves it be')
    t.match(await json(t, runCli, ['client', 'update', id, '--require-mfa'], { env }), { require_mfa: true })
    t.match(await json(t, runCli, ['client', 'show', id], { env }), { require_mfa: true, name: 'Bank 2' })
  }],

  ['client add --admin registers an admin API client; the reserved scope is refused elsewhere', async (t, runCli) => {
    const env = envFor(t)
    const added = await json(t, runCli, ['client', 'add', '--name', 'Ops', '--admin'], { env })
    t.match(await json(t, runCli, ['client', 'show', added.client_id as string], { env }), {
      admin: true,
      grants: ['client_credentials'],
      scopes: ['latchkey:admin'],
      resources: ['http://localhost:3000/admin/v1'],
    })
    await fails(t, runCli, ['client', 'add', '--name', 'x', '--admin', '--public'], /--admin cannot be used with --public/, { env })
    await fails(t, runCli, ['client', 'add', '--name', 'x', '--admin', '--grant', 'authorization_code', '--redirect-uri', 'https://a.example.com/cb'], /only use the client_credentials grant/, { env })
    await fails(t, runCli, ['client', 'add', '--name', 'x', '--scope', 'latchkey:admin'], /reserved/, { env })
    await fails(t, runCli, ['scope', 'add', 'latchkey:admin', '--description', 'mine'], /reserved/, { env })
    t.match(await json(t, runCli, ['client', 'update', added.client_id as string, '--no-admin'], { env }), { admin: false, scopes: [], resources: [] })
    t.equal((await tableCounts(env)).clients, 1)
  }],

  ['scope list and remove; a scope in use is refused', async (t, runCli) => {
    const env = envFor(t)
    await json(t, runCli, ['scope', 'add', 'orders:read', '--description', 'Read orders'], { env })
    const list = await json(t, runCli, ['scope', 'list', '--limit', '2'], { env })
    t.same((list.items as Array<{ name: string }>).map((s) => s.name), ['email', 'offline_access'])
    t.same(await json(t, runCli, ['scope', 'list', '--search', 'orders'], { env }), { items: [{ name: 'orders:read', description: 'Read orders' }], next: null })
    const client = await json(t, runCli, ['client', 'add', '--name', 'Svc', '--grant', 'client_credentials', '--scope', 'orders:read'], { env })
    await fails(t, runCli, ['scope', 'remove', 'orders:read'], new RegExp(`used by client\\(s\\) ${client.client_id as string}`), { env })
    await fails(t, runCli, ['scope', 'remove', 'openid'], /built in/, { env })
    await json(t, runCli, ['client', 'update', client.client_id as string, '--scope', ''], { env })
    const removed = await runCli(['scope', 'remove', 'orders:read', '--json'], { env })
    t.same(JSON.parse(removed.stdout), { name: 'orders:read' })
    t.match(auditOf(removed), [{ event: 'scope_removed', scope: 'orders:read', actor: 'cli' }])
    await fails(t, runCli, ['scope', 'remove', 'orders:read'], /no scope/, { env })
  }],

  ['grants and sessions: list and revoke for a user', async (t, runCli) => {
    const env = envFor(t)
    const user = await json(t, runCli, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
    const web = await json(t, runCli, ['client', 'add', '--name', 'Web', '--redirect-uri', 'https://app.example.com/cb'], { env })
    // A consent, a family and a session as the server would have left them.
    const store = connect({ kind: 'sqlite', path: env.DATABASE_URL })
    const now = Date.now()
    await store.db.insertInto('consents').values({ client_id: web.client_id as string, user_id: user.id as string, resource: 'http://localhost:4000', scopes: '["openid"]', created_at: now, updated_at: now }).execute()
    await store.db.insertInto('refresh_token_families').values({ id: 'fam-1', client_id: web.client_id as string, user_id: user.id as string, scopes: '["openid"]', audience: 'http://localhost:4000', auth_time: now, began_with_openid: 1, created_at: now, revoked_at: null }).execute()
    await store.db.insertInto('login_sessions').values({ id_hash: 'a'.repeat(64), user_id: user.id as string, auth_time: now, created_at: now, expires_at: now + 3_600_000 }).execute()
    await store.close()

    t.match(await json(t, runCli, ['grants', 'list', '--username', 'alice'], { env }), {
      items: [{ client_id: web.client_id, client_name: 'Web', consents: [{ resource: 'http://localhost:4000', scopes: ['openid'] }], refresh_token_families: [{ id: 'fam-1' }] }],
      next: null,
    })
    t.match((await json(t, runCli, ['sessions', 'list', '--username', 'alice'], { env })).items, [{ auth_time: String, expires_at: String }])
    t.match((await runCli(['sessions', 'list', '--username', 'alice'], { env })).stdout, /^signed in \S+ {2}expires \S+\n$/)
    // --search matches a grant's client_id or client name; a session has nothing to search by.
    t.same(((await json(t, runCli, ['grants', 'list', '--username', 'alice', '--search', 'wE'], { env })).items as Array<{ client_id: string }>).map((g: { client_id: string }) => g.client_id), [web.client_id])
    t.same(((await json(t, runCli, ['grants', 'list', '--username', 'alice', '--search', (web.client_id as string).slice(3, 9)], { env })).items as Array<{ client_id: string }>).map((g: { client_id: string }) => g.client_id), [web.client_id])
    t.same(await json(t, runCli, ['grants', 'list', '--username', 'alice', '--search', 'mobile'], { env }), { items: [], next: null })
    await fails(t, runCli, ['sessions', 'list', '--username', 'alice', '--search', 'x'], /unknown option '--search'/, { env })
    await fails(t, runCli, ['grants', 'revoke', '--username', 'alice', '--client', 'lk_nope'], /no client/, { env })
    await fails(t, runCli, ['grants', 'list', '--username', 'nobody'], /no user/, { env })

    const revoked = await runCli(['grants', 'revoke', '--username', 'alice', '--client', web.client_id as string, '--json'], { env })
    t.same(JSON.parse(revoked.stdout), { revoked: { consents: 1, refresh_token_families: 1 } })
    t.match(auditOf(revoked), [{ event: 'grants_revoked', userId: user.id, clientId: web.client_id, consents: 1, families: 1, actor: 'cli' }])
    t.same(await json(t, runCli, ['grants', 'list', '--username', 'alice'], { env }), { items: [], next: null })
    const ended = await runCli(['sessions', 'revoke', '--username', 'alice'], { env })
    t.equal(ended.stdout, 'ended 1 session(s)\n')
    t.match(auditOf(ended), [{ event: 'sessions_revoked', userId: user.id, sessions: 1 }])
    t.same(await json(t, runCli, ['sessions', 'list', '--username', 'alice'], { env }), { items: [], next: null })
    t.equal((await runCli(['grants', 'revoke', '--username', 'alice'], { env })).stdout, 'revoked 0 consent(s) and 0 refresh-token family(ies)\n')
  }],

  ['every new command has --help', async (t, runCli) => {
    for (const args of HELP) {
      const run = await runCli([...args, '--help'])
      t.equal(run.code, 0, args.join(' '))
      t.match(run.stdout, new RegExp(`Usage: latchkey ${args.join(' ')}`))
    }
  }],
]

t.test('in-process', async (t) => {
  for (const [name, run] of cases) t.test(name, (t) => run(t, runCliInProcess))
})
