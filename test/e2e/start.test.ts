import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runNode, UNTRACKED } from '../helpers/cli.js'

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

t.test('the server starts, migrates, creates a key and serves the JWKS', async (t) => {
  const dir = t.testdir()
  const child = spawn('env', [...UNTRACKED, process.execPath, '--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: join(dir, 'db', 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  let out = ''
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.on('exit', (code) => reject(new Error(`exited ${code}`)))
  })
  const jwks = (await (await fetch(`${address}/.well-known/jwks.json`)).json()) as { keys: unknown[] }
  t.equal(jwks.keys.length, 1)
  const health = await fetch(`${address}/healthz`)
  t.equal(health.status, 200)
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly on SIGTERM')
  const events = out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { event?: string; signal?: string; outcome?: string })
  t.match(events.find((e) => e.event === 'shutdown'), { signal: 'SIGTERM' }, 'says it is stopping')
  t.match(events.find((e) => e.event === 'stopped'), { outcome: 'clean' })
})
