import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { entryArgs, runCliInProcess, runNode, UNTRACKED } from '../helpers/cli.js'
import { freePort } from '../helpers/server.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** `npm start` (src/main.ts) until it listens: what it wrote on stdout and on stderr by then. */
async function start(t: Test, env: Record<string, string>) {
  const child = spawn('env', [...UNTRACKED, process.execPath, ...entryArgs('src/main.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (stdout.includes('Server listening')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)))
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  // The hint follows the listening line; give it a moment, then stop the server.
  await new Promise((resolve) => setTimeout(resolve, 500))
  child.kill('SIGTERM')
  await exited
  return { stdout, stderr }
}

t.test('on an empty database npm start prints where it is and what to run next; not once set up', async (t) => {
  const dir = t.testdir()
  const port = await freePort()
  const env = { DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: String(port) }
  const first = await start(t, env)
  t.match(first.stderr, `issuer:     http://localhost:${port}\n`, 'the default issuer follows PORT')
  t.match(first.stderr, `discovery:  http://localhost:${port}/.well-known/openid-configuration\n`)
  t.match(first.stderr, `  PORT=${port} DATABASE_URL=${env.DATABASE_URL} npx latchkey demo\n`, 'the command, with what it must share with the server')
  for (const line of first.stdout.trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'stdout (not a terminal) holds only JSON log lines')
  t.notMatch(first.stdout, /latchkey demo/)

  t.equal((await runCliInProcess(['user', 'add', '--username', 'ann', '--password', 'long enough pw'], { env })).code, 0)
  const second = await start(t, env)
  t.notMatch(second.stderr, /latchkey demo|issuer:/, 'no hint once there is a user')
})

t.test('HOST beyond loopback without ISSUER stops the server, naming ISSUER', async (t) => {
  const run = await runNode('src/main.ts', [], { env: { HOST: '0.0.0.0' } })
  t.equal(run.code, 1)
  t.match(run.stderr, /^latchkey: ISSUER must be set when HOST is not a loopback address \(HOST=0\.0\.0\.0\)/)
  t.equal(run.stderr.trim().split('\n').length, 1)
})

const SCRIPT = '/usr/bin/script'
t.test('logs are one readable line per request on a terminal', { skip: existsSync(SCRIPT) ? false : `${SCRIPT} (util-linux) is absent: no terminal to test with` }, async (t) => {
  const dir = t.testdir()
  const port = await freePort()
  const env = { DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: String(port) }
  // script(1) gives the server a pseudo-terminal as stdout, as a person's shell would.
  const command = `env ${UNTRACKED.join(' ')} ${process.execPath} ${entryArgs('src/main.ts').join(' ')}`
  const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], { cwd: root, env: { PATH: process.env.PATH ?? '', TERM: 'dumb', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  t.teardown(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {
      // already gone
    }
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes('Server listening')) {
        clearInterval(timer)
        resolve()
      }
    }, 50)
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz?probe=secret-looking-value`)).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const lines = out.replace(/\r/g, '').split('\n').filter((line) => line !== '')
  t.match(lines.find((line) => line.includes('Server listening')), /^\d\d:\d\d:\d\d INFO  Server listening at http:\/\/127\.0\.0\.1:\d+/)
  t.match(lines.find((line) => line.includes('/healthz')), /^\d\d:\d\d:\d\d INFO  GET \/healthz → 200 [\d.]+ ms$/, 'one line for the request')
  t.notOk(lines.some((line) => line.startsWith('{')), 'no JSON')
  t.notMatch(out, 'secret-looking-value', 'no query string')
  t.notMatch(out, /\x1b\[/, 'NO_COLOR: no colours')
  t.match(out, 'npx latchkey demo', 'the hint shows in the same terminal')
})
