import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runCliInProcess, runNode, UNTRACKED } from '../helpers/cli.js'
import { staleDist } from '../helpers/dist.js'
import { eventually } from '../helpers/server-process.js'

// `npm start` runs the one-file bundle scripts/bundle-server.mjs writes: dist/server/main.js,
// which `npm ci` (the `prepare` script) and `npm run build` build. This serves from it when it
// is the build of the sources as they are; otherwise it builds one next to dist/server/ (the
// same depth, so views and locales resolve as they do there) and serves from that.
const root = fileURLToPath(new URL('../../', import.meta.url))
const stale = staleDist(root)
const outDir = join(root, 'dist', `server-test-${process.pid}`)
const bundle = stale === undefined ? join(root, 'dist', 'server', 'main.js') : join(outDir, 'main.js')

if (stale !== undefined) {
  t.comment(`dist/ is not current (${stale}; \`npm run build\` makes it so): bundling the server for this test`)
  t.before(async () => {
    const { bundleServer } = (await import(join(root, 'scripts', 'bundle-server.mjs'))) as { bundleServer: (outfile: string) => Promise<void> }
    await bundleServer(bundle)
  })
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }))
}

t.test('a bad configuration value stops the bundled server with exit 1 and one line naming it', async (t) => {
  const run = await runNode(bundle, [], { env: { PORT: 'abc' } })
  t.equal(run.code, 1)
  t.match(run.stderr, /^latchkey: PORT /)
})

t.test('the bundled server migrates, creates its key, issues a token, renders a page and stops cleanly', async (t) => {
  const dir = t.testdir()
  const env = { DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: '0' }
  // The CLI migrates the empty database and registers a service client on it.
  const added = await runCliInProcess(['client', 'add', '--name', 'Service', '--grant', 'client_credentials', '--json'], { env })
  t.equal(added.code, 0, added.stderr)
  const client = JSON.parse(added.stdout) as { client_id: string; client_secret: string }
  const web = await runCliInProcess(['client', 'add', '--name', 'Web', '--grant', 'authorization_code', '--redirect-uri', 'https://app.example/cb', '--json'], { env })
  const webClient = JSON.parse(web.stdout) as { client_id: string }

  const child = spawn('env', [...UNTRACKED, process.execPath, bundle], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const address = await eventually('the bundled server listens', 20_000, async () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1])

  const jwks = (await (await fetch(`${address}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }
  t.equal(jwks.keys.length, 1, 'the first key was created and is published')
  const token = await fetch(`${address}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  t.equal(token.status, 200)
  t.match(await token.json(), { access_token: String, token_type: 'Bearer' })

  // The sign-in page: templates, the language catalogue and the stylesheet are found from the bundle.
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
  const query = new URLSearchParams({ response_type: 'code', client_id: webClient.client_id, redirect_uri: 'https://app.example/cb', code_challenge: challenge, code_challenge_method: 'S256', state: 's' })
  const page = await fetch(`${address}/authorize?${query}`, { headers: { 'accept-language': 'de' } })
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /<form[^>]+action="\/authorize\/login"/)
  t.match(html, /lang="de"/, 'the German catalogue was read')
  const css = await fetch(`${address}/assets/latchkey.css`)
  t.equal(css.status, 200)
  t.match(await css.text(), /--brand/)

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops it cleanly')
  t.match(out, /"msg":"request completed"/, 'one JSON line per request')
})

t.test('with ADMIN_API=on the bundled server loads the schema compilers and the OpenAPI generator it left out', async (t) => {
  const dir = t.testdir()
  const env = { DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), PORT: '0', ADMIN_API: 'on' }
  const child = spawn('env', [...UNTRACKED, process.execPath, bundle], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const address = await eventually('the bundled server listens', 20_000, async () => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1])
  const openapi = await fetch(`${address}/admin/v1/openapi.json`)
  t.equal(openapi.status, 200)
  t.match(await openapi.json(), { openapi: String, paths: { '/users': Object } })
  // The admin routes' schemas are compiled as the server starts: it listening means ajv loaded.
  const listed = await fetch(`${address}/admin/v1/users`)
  t.equal(listed.status, 401, 'without an admin token')
})
