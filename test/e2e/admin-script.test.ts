import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig, parseDatabaseUrl } from '../../src/config.js'
import { connect } from '../../src/storage/connect.js'
import { migrate } from '../../src/storage/migrate.js'
import { runCliInProcess, UNTRACKED } from '../helpers/cli.js'
import { FakeClock } from '../helpers/clock.js'
import { eachDialect, processDatabaseUrl } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { testPasswords } from '../helpers/passwords.js'
import { freePort } from '../helpers/server.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The README's administration script, between its markers, and the output it says it prints. */
function readmeScript(): { script: string; output: string } {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const block = /<!-- admin-script -->\n```sh\n([\s\S]*?)```\n<!-- \/admin-script -->\n\nIt prints:\n\n```\n([\s\S]*?)```/.exec(readme)
  if (!block) throw new Error('README.md has no admin-script block')
  return { script: block[1] as string, output: block[2] as string }
}

function bash(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('env', [...UNTRACKED, 'bash', '-c', script], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

eachDialect(t, (t) => {
  t.test("the README's administration script runs as written and prints what it says", async (t) => {
    const dir = t.testdir()
    const port = await freePort()
    const DATABASE_URL = await processDatabaseUrl(t, join(dir, 'db', 'latchkey.sqlite'))
    const env = { DATABASE_URL, KEYS_DIR: join(dir, 'keys'), ISSUER: `http://127.0.0.1:${port}`, ADMIN_API: 'on' }
    // The server and the CLI share one database (on SQLite one file), as on an operator's machine.
    const store = connect(parseDatabaseUrl(DATABASE_URL))
    await migrate(store)
    const app = await buildApp(loadConfig(env), { store, keys: await fixtureKeyStore(), clock: new FakeClock(Date.now()), passwords: testPasswords })
    t.teardown(async () => {
      await app.close()
      await store.close()
    })
    await app.listen({ port, host: '127.0.0.1' })
    t.equal((await runCliInProcess(['user', 'add', '--username', 'alice', '--password', 'correct horse battery'], { env })).code, 0)

    const { script, output } = readmeScript()
    const run = await bash(script, { ...env, LATCHKEY: `${process.execPath} --import tsx src/cli/main.ts` })
    t.equal(run.code, 0, run.stderr)
    t.equal(run.stdout, output)
    t.equal(await store.db.selectFrom('users').select('id').where('username', '=', 'alice').executeTakeFirst(), undefined, 'alice is gone')
    const invoicing = await store.db.selectFrom('clients').selectAll().where('name', '=', 'Invoicing').executeTakeFirstOrThrow()
    t.ok(invoicing.previous_secret_hash, 'the old secret is kept for its grace period')
  })
})
