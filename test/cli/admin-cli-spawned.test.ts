import t from 'tap'
import { auditOf, envFor, fails, json } from '../helpers/admin-cli.js'
import { runCli as runCliProcess } from '../helpers/cli.js'

// The administration commands spawned as an operator runs them: real argv, stdin, stdout,
// stderr and exit codes, and the production password hashing. Kept short: each process start
// costs seconds (test/cli/admin-cli.test.ts runs every command in-process).
t.test('set-password from stdin, disable, an error line, --admin and rotate-secret', async (t) => {
  const env = envFor(t)
  await json(t, runCliProcess, ['user', 'add', '--username', 'alice', '--password', 'correct horse'], { env })
  const set = await runCliProcess(['user', 'set-password', '--username', 'alice', '--password-stdin', '--json'], { env, input: 'a brand new password\n' })
  t.equal(set.code, 0, set.stderr)
  t.match(JSON.parse(set.stdout), { username: 'alice', disabled: false })
  t.match(auditOf(set), [{ event: 'user_password_set', actor: 'cli' }])
  t.match(await json(t, runCliProcess, ['user', 'disable', '--username', 'alice'], { env }), { disabled: true })
  await fails(t, runCliProcess, ['user', 'show', '--username', 'bob'], /no user "bob"/, { env })
  const admin = await json(t, runCliProcess, ['client', 'add', '--name', 'Ops', '--admin'], { env })
  const rotated = await json(t, runCliProcess, ['client', 'rotate-secret', admin.client_id as string, '--grace', '60'], { env })
  t.match(rotated, { client_id: admin.client_id, client_secret: /^[A-Za-z0-9_-]{43}$/, previous_secret_expires_at: /T/ })
})
