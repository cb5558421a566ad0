import { execFile, spawn } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { addScope } from '../../src/admin/scopes.js'
import { UNTRACKED } from '../helpers/cli.js'
import { staleDist } from '../helpers/dist.js'
import { createClient } from '../helpers/oauth.js'
import { freePort, startLatchkey } from '../helpers/server.js'
import { eventually } from '../helpers/server-process.js'

// What a project that installs latchkey gets: `npm pack`, the tarball installed into a fresh
// project, and `latchkey/resource-server` imported from plain node:http code and from TypeScript.
// The tarball is packed from the dist/ that `npm ci` (its `prepare` script) or `npm run build`
// built, when it is the build of the sources as they are; otherwise the pack's `prepare` builds
// one in the copy (tsc and the bundle: a minute or more on a busy machine).
const root = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)
// Neither tap's coverage hooks nor its TypeScript loader in the npm, tsc and server processes.
const sh = (command: string, args: string[], cwd: string, timeout = 120_000) =>
  run('env', [...UNTRACKED, command, ...args], { cwd, timeout, maxBuffer: 16 * 1024 * 1024 })

t.setTimeout(300_000)
const dir = t.testdir()
const staging = join(dir, 'latchkey')
const consumer = join(dir, 'consumer')

// A copy of the repository's files (tracked or new, never ignored ones such as dist/), so a
// build in it does not touch the dist/ other tests may be reading.
const { stdout: listed } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 16 * 1024 * 1024 })
for (const file of listed.split('\0').filter((f) => f !== '' && !f.startsWith('node_modules'))) {
  try {
    cpSync(join(root, file), join(staging, file))
  } catch (error) {
    // A file deleted in the work tree but still tracked.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}
symlinkSync(join(root, 'node_modules'), join(staging, 'node_modules'))

const packed = Date.now()
const stale = staleDist(root)
if (stale === undefined) {
  // The test runs of bundle.test.ts write dist/server-test-<pid>/; the package leaves them out anyway.
  cpSync(join(root, 'dist'), join(staging, 'dist'), { recursive: true, filter: (source) => !/[/\\]server-test-\d+$/.test(source) })
  await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], staging)
  t.comment(`npm pack of the built dist/ took ${Date.now() - packed} ms`)
} else {
  await sh('npm', ['pack', '--pack-destination', dir], staging, 180_000)
  t.comment(`dist/ is not current (${stale}; \`npm run build\` makes it so): npm pack with the prepare build took ${Date.now() - packed} ms`)
}
const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))!

t.test('the tarball holds the built module, its types and what the server reads, and no sources or tests', async (t) => {
  const { stdout } = await run('tar', ['-tzf', join(dir, tarball)])
  const files = stdout.split('\n').filter((f) => f !== '').map((f) => f.replace(/^package\//, ''))
  for (const file of [
    'package.json',
    'dist/resource-server/index.js',
    'dist/resource-server/index.d.ts',
    'dist/resource-server/authenticate.js',
    'dist/resource-server/resource-metadata.d.ts',
    'dist/server/main.js',
    'dist/cli/main.js',
    'bin/latchkey.js',
    'views/layout.eta',
    'locales/en.json',
  ]) t.ok(files.includes(file), file)
  t.strictSame(files.filter((f) => /^(src|test|bench|docs|scripts|examples)\/|\.map$|\.ts$/.test(f) && !f.endsWith('.d.ts')), [], 'no sources, tests, benchmarks or source maps')
})

// An install from npm's cache alone, with the versions latchkey's own lockfile pins: a
// lockfile for the new project made of latchkey's non-dev entries (its dependencies, hoisted
// to the same node_modules/ paths). `npm ci` then resolves nothing and fetches no metadata.
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> }
const self = lock.packages['']!
const packages: Record<string, unknown> = {
  '': { name: 'consumer', dependencies: { latchkey: `file:../${tarball}` } },
  'node_modules/latchkey': { version: self.version, resolved: `file:../${tarball}`, dependencies: self.dependencies, bin: self.bin, engines: self.engines },
}
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path.startsWith('node_modules/') && entry.dev !== true) packages[path] = entry
}
mkdirSync(consumer)
writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { latchkey: `file:../${tarball}` } }))
writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }))
const installing = Date.now()
// --ignore-scripts: the native addons (argon2, better-sqlite3) are not rebuilt; the module needs neither.
await sh('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], consumer)
t.comment(`npm ci of the tarball took ${Date.now() - installing} ms`)

writeFileSync(join(consumer, 'server.js'), `
import { createServer } from 'node:http'
import { createResourceServer } from 'latchkey/resource-server'

const rs = createResourceServer({
  issuer: process.env.ISSUER,
  audience: process.env.AUDIENCE,
  resourceMetadata: { scopesSupported: ['notes:read', 'notes:write'] },
})

const server = createServer(async (request, response) => {
  try {
    const { pathname } = new URL(request.url, 'http://localhost')
    const metadata = rs.metadata()
    if (request.method === 'GET' && pathname === metadata.path) {
      return response.writeHead(200, metadata.headers).end(JSON.stringify(metadata.body))
    }
    if (pathname !== '/notes') return response.writeHead(404).end()
    const result = await rs.authenticate(request.headers.authorization, request.method === 'POST' ? ['notes:write'] : [])
    if (!result.ok) return response.writeHead(result.status, result.headers).end(JSON.stringify(result.body))
    response.writeHead(request.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ sub: result.claims.sub, scope: result.claims.scope }))
  } catch (error) {
    console.error(error)
    response.writeHead(500).end()
  }
})
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))
`)

t.test('plain node:http code protects its routes with latchkey/resource-server', async (t) => {
  const port = await freePort()
  const audience = `http://127.0.0.1:${port}`
  const ctx = await startLatchkey(t, { env: { DEFAULT_AUDIENCE: audience } })
  const child = spawn('env', [...UNTRACKED, process.execPath, 'server.js'], {
    cwd: consumer,
    env: { PATH: process.env.PATH ?? '', ISSUER: ctx.issuer, AUDIENCE: audience, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void child.kill())
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  await eventually('the node:http server listens', 20_000, async () => output.includes('listening') || undefined)

  const wellKnown = `${audience}/.well-known/oauth-protected-resource`
  const anonymous = await fetch(`${audience}/notes`)
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="${audience}", resource_metadata="${wellKnown}"`)
  t.strictSame(await anonymous.json(), { error_description: 'bearer token required' })

  const metadata = await fetch(wellKnown)
  t.equal(metadata.status, 200)
  t.equal(metadata.headers.get('access-control-allow-origin'), '*')
  t.strictSame(await metadata.json(), {
    resource: audience,
    authorization_servers: [ctx.issuer],
    scopes_supported: ['notes:read', 'notes:write'],
    bearer_methods_supported: ['header'],
  })

  await addScope({ scopes: ctx.repos.scopes }, { name: 'notes:read', description: 'Read notes' })
  await addScope({ scopes: ctx.repos.scopes }, { name: 'notes:write', description: 'Write notes' })
  const tokenFor = async (scope: string) => {
    const client = await createClient(ctx, { grants: ['client_credentials'], scope, redirectUris: [] })
    const response = await fetch(`${ctx.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret!}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
    })
    t.equal(response.status, 200, 'latchkey issues the token')
    return ((await response.json()) as { access_token: string }).access_token
  }

  const reader = await tokenFor('notes:read')
  const read = await fetch(`${audience}/notes`, { headers: { authorization: `Bearer ${reader}` } })
  t.equal(read.status, 200)
  t.match(await read.json(), { sub: String, scope: 'notes:read' })

  const denied = await fetch(`${audience}/notes`, { method: 'POST', headers: { authorization: `Bearer ${reader}` } })
  t.equal(denied.status, 403)
  t.equal(
    denied.headers.get('www-authenticate'),
    `Bearer realm="${audience}", error="insufficient_scope", error_description="token lacks scope: notes:write", scope="notes:write", resource_metadata="${wellKnown}"`,
  )

  const writer = await tokenFor('notes:read notes:write')
  const written = await fetch(`${audience}/notes`, { method: 'POST', headers: { authorization: `Bearer ${writer}` } })
  t.equal(written.status, 201)
  t.notMatch(output, /Error/, 'the server logged no error')
})

t.test('the installed latchkey runs: its CLI, and its server finds its views and locales', async (t) => {
  // What the install scripts skipped above build: copied from this repository's install.
  for (const addon of ['argon2', 'better-sqlite3']) {
    cpSync(join(root, 'node_modules', addon, 'build'), join(consumer, 'node_modules', addon, 'build'), { recursive: true })
  }
  const help = await sh(process.execPath, [join(consumer, 'node_modules', '.bin', 'latchkey'), '--help'], consumer)
  t.match(help.stdout, /^Usage: latchkey/)

  const data = t.testdir()
  const port = await freePort()
  const child = spawn('env', [...UNTRACKED, process.execPath, join(consumer, 'node_modules', 'latchkey', 'dist', 'server', 'main.js')], {
    cwd: data,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DATABASE_URL: join(data, 'latchkey.sqlite'), KEYS_DIR: join(data, 'keys') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void child.kill())
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const base = `http://127.0.0.1:${port}`
  await eventually('the installed server listens', 20_000, async () => (await fetch(`${base}/.well-known/jwks.json`).catch(() => undefined))?.ok || undefined)
  const page = await fetch(`${base}/authorize?client_id=unknown`, { headers: { 'accept-language': 'de' } })
  t.equal(page.status, 400)
  t.match(await page.text(), /^<!doctype html>\n<html lang="de">/, 'an error page from views/, in a language from locales/')
})

t.test('TypeScript resolves the types of latchkey/resource-server', async (t) => {
  writeFileSync(join(consumer, 'check.ts'), `
import { createResourceServer, type AuthenticationResult, type ProtectedResourceMetadata } from 'latchkey/resource-server'

const rs = createResourceServer({ issuer: 'https://as.example', audience: 'https://api.example' })
const result: AuthenticationResult = await rs.authenticate('Bearer abc', ['notes:write'])
export const who: string = result.ok ? result.claims.sub : String(result.status)
export const document: ProtectedResourceMetadata | undefined = rs.metadata()?.body
// @ts-expect-error: the audience is required
createResourceServer({ issuer: 'https://as.example' })
// @ts-expect-error: the claims exist only on success
export const unchecked = result.claims
`)
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
    },
    files: ['check.ts'],
  }))
  const checked = await sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], consumer).then(
    () => ({ code: 0, stdout: '' }),
    (error: { code: number; stdout: string }) => error,
  )
  t.equal(checked.code, 0, checked.stdout)
})
