import { chmodSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { entryArgs, runNode, UNTRACKED } from '../helpers/cli.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('a bad configuration value stops the server with exit 1 and one line naming it', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^latchkey: PORT /],
    [{ ISSUER: 'https://auth.example.com/path' }, /^latchkey: ISSUER /],
    [{ ISSUER: 'http://auth.example.com' }, /^latchkey: ISSUER .*https/],
    [{ DATABASE_URL: 'redis://x' }, /^latchkey: DATABASE_URL /],
    [{ ACCESS_TOKEN_TTL: '-1' }, /^latchkey: ACCESS_TOKEN_TTL /],
  ]
  for (const [env, message] of cases) {
    const run = await runNode('src/main.ts', [], { env })
    t.equal(run.code, 1, JSON.stringify(env))
    t.match(run.stderr, message)
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line')
  }
})

t.test('a corrupt key file stops the server with exit 1', async (t) => {
  const dir = t.testdir({ keys: { 'bad.json': '{' } })
  const run = await runNode('src/main.ts', [], { env: { DATABASE_URL: join(dir, 'db.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: '0' } })
  t.equal(run.code, 1)
  t.match(run.stderr, /^latchkey: KEYS_DIR: .*bad\.json is not a valid key file/)
})

/** Starts src/main.ts; resolves with its address and what it printed until it listened. */
async function startServer(t: Test, env: Record<string, string>) {
  const child = spawn('env', [...UNTRACKED, process.execPath, ...entryArgs('src/main.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.on('exit', (code) => reject(new Error(`exited ${code}`)))
  })
  // `out`: what it printed until it listened; output(): everything so far.
  return { child, address, out, output: () => out }
}

t.test('the server starts, migrates, creates a key and serves the JWKS', async (t) => {
  const dir = t.testdir()
  const database = join(dir, 'db', 'latchkey.sqlite')
  const { child, address, out, output } = await startServer(t, { DATABASE_URL: database, KEYS_DIR: join(dir, 'keys') })
  t.notMatch(out, /insecure_file/, 'a database it created itself is private')
  t.equal(statSync(database).mode & 0o777, 0o600, 'the database file is 0600')
  t.equal(statSync(join(dir, 'db')).mode & 0o777, 0o700, 'in a 0700 directory')
  const jwks = (await (await fetch(`${address}/.well-known/jwks.json`)).json()) as { keys: unknown[] }
  t.equal(jwks.keys.length, 1)
  const health = await fetch(`${address}/healthz`)
  t.equal(health.status, 200)
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly on SIGTERM')
  const events = output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { event?: string; signal?: string; outcome?: string })
  t.match(events.find((e) => e.event === 'shutdown'), { signal: 'SIGTERM' }, 'says it is stopping')
  t.match(events.find((e) => e.event === 'stopped'), { outcome: 'clean' })
})

t.test('an existing database file open to others gets a warning at start', async (t) => {
  const dir = t.testdir()
  chmodSync(dir, 0o700)
  const database = join(dir, 'latchkey.sqlite')
  writeFileSync(database, '')
  chmodSync(database, 0o644)
  const { out } = await startServer(t, { DATABASE_URL: database, KEYS_DIR: join(dir, 'keys') })
  const warnings = out.split('\n').filter((line) => line.includes('"insecure_file"')).map((line) => JSON.parse(line) as { level: number; msg: string })
  t.equal(warnings.length, 1)
  t.equal(warnings[0]?.level, 40, 'logged as a warning')
  t.match(warnings[0]?.msg, `the database file ${database} has mode 0644`)
})
