import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// docs/architecture.md "The arrows": which part of src/ may import which. Change both together.
const COMMON = ['errors', 'clock', 'config', 'audit', 'network']
const ALLOWED: Record<string, string[]> = {
  main: ['app', 'keys', 'storage', 'shutdown', 'first-run', 'log-format'],
  app: ['http-server', 'routes', 'pages', 'authorization', 'grants', 'tokens', 'keys', 'storage', 'accounts', 'registration', 'error-handler'],
  cli: ['admin', 'keys', 'storage', 'grants', 'accounts'],
  routes: ['admin', 'authorization', 'grants', 'tokens', 'oauth', 'accounts', 'pages', 'keys', 'storage', 'registration', 'error-handler'],
  'error-handler': ['pages', 'oauth'],
  authorization: ['oauth', 'storage'],
  registration: ['grants', 'oauth', 'storage'],
  grants: ['tokens', 'oauth', 'accounts', 'storage'],
  admin: ['accounts', 'oauth', 'grants', 'storage'],
  tokens: ['keys', 'oauth', 'storage'],
  accounts: ['oauth', 'storage'],
  pages: [],
  keys: [],
  oauth: [],
  storage: [],
  errors: [],
  clock: [],
  config: ['oauth'],
  audit: [],
  'http-server': [],
  shutdown: [],
  network: [],
  'first-run': [],
  'log-format': [],
}
// Packages a part must not use: protocol and domain rules stay free of HTTP.
const NO_FASTIFY = ['authorization', 'registration', 'grants', 'tokens', 'oauth', 'accounts', 'admin', 'storage', 'keys']

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** The part a file of src/ belongs to: its top folder, or its own name for a top-level file. */
function partOf(path: string): string {
  const [head = '', ...rest] = relative(SRC, path).split('/')
  return rest.length === 0 ? head.replace(/\.[jt]s$/, '') : head
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\sfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)].map((m) => (m[1] ?? m[2]) as string)
}

const files = sourceFiles(SRC)

t.test('every part of src/ is on the map', async (t) => {
  const parts = new Set(files.map(partOf))
  parts.delete('resource-server')
  t.same([...parts].filter((part) => !(part in ALLOWED)), [], 'a new part needs a line in docs/architecture.md and ALLOWED')
})

t.test('imports follow the arrows of docs/architecture.md', async (t) => {
  const broken: string[] = []
  for (const file of files) {
    const from = partOf(file)
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (from === 'resource-server') {
        // It stands alone: publishable as it is (ARCHITECTURE.md).
        if (specifier.startsWith('../')) broken.push(`${relative(SRC, file)} → ${specifier}`)
        continue
      }
      if (NO_FASTIFY.includes(from) && /^(fastify|@fastify\/)/.test(specifier)) broken.push(`${relative(SRC, file)} → ${specifier}`)
      if (!specifier.startsWith('.')) continue
      const to = partOf(resolve(dirname(file), specifier))
      if (to === from || COMMON.includes(to)) continue
      if (!(ALLOWED[from] ?? []).includes(to)) broken.push(`${relative(SRC, file)} → ${specifier}`)
    }
  }
  t.same(broken, [], 'imports against the arrows')
})

t.test('the check sees imports at all', async (t) => {
  // Guards the regular expression: were it to match nothing, the test above would pass vacuously.
  const app = readFileSync(join(SRC, 'app.ts'), 'utf8')
  t.ok(importsOf(app).includes('./routes/token.js'))
  t.ok(importsOf("import type { A } from '../storage/x.js'\nexport { b } from './b.js'").length === 2)
  t.ok(files.length > 50)
})

t.test('the examples stand alone: from src/ they import only the resource-server module', async (t) => {
  const examples = resolve(SRC, '../examples')
  // What an integrator installs as `latchkey/resource-server`; imported from src/ so the examples
  // run without a build. Anything else of latchkey they reach over HTTP only.
  const resourceServer = join(SRC, 'resource-server') + '/'
  const broken = sourceFiles(examples).flatMap((file) =>
    importsOf(readFileSync(file, 'utf8'))
      .filter((specifier) => specifier.startsWith('.'))
      .filter((specifier) => {
        const target = resolve(dirname(file), specifier)
        return !target.startsWith(examples) && !target.startsWith(resourceServer)
      })
      .map((specifier) => `${relative(examples, file)} → ${specifier}`),
  )
  t.ok(sourceFiles(examples).length > 0, 'examples/ has sources')
  t.same(broken, [], 'imports outside examples/ and src/resource-server/')
})
