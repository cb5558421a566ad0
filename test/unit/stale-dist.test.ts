import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { BUILD_INPUTS, staleDist } from '../helpers/dist.js'

// staleDist decides whether tests run the build (bundle.test.ts, package.test.ts, every CLI and
// server process of test/helpers/cli.ts) or the sources: a stale build would test old code.

/** A repository built at second 2000 from sources and inputs written at second 1000. */
function builtRepository(t: Test): { root: string; at: (file: string, second: number) => void } {
  const root = t.testdir()
  const at = (file: string, second: number) => {
    const path = join(root, file)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, '')
    utimesSync(path, second, second)
  }
  for (const file of ['src/main.ts', 'src/cli/main.ts', ...BUILD_INPUTS]) at(file, 1000)
  for (const file of ['dist/main.js', 'dist/main.d.ts', 'dist/cli/main.js', 'dist/cli/main.d.ts', 'dist/server/main.js']) at(file, 2000)
  return { root, at }
}

t.test('a build newer than its sources and inputs is current', async (t) => {
  const { root } = builtRepository(t)
  t.equal(staleDist(root), undefined)
})

t.test('a source newer than its output, or than the bundle, makes it stale', async (t) => {
  const { root, at } = builtRepository(t)
  at('src/cli/main.ts', 3000)
  t.equal(staleDist(root), 'dist/cli/main.js is older than src/cli/main.ts')
  const compiledSince = builtRepository(t)
  compiledSince.at('src/cli/main.ts', 3000)
  for (const file of ['dist/cli/main.js', 'dist/cli/main.d.ts']) compiledSince.at(file, 4000)
  t.equal(staleDist(compiledSince.root), 'dist/server/main.js is older than src/cli/main.ts')
})

t.test('the inputs checked are the build\'s', async (t) => {
  t.same([...BUILD_INPUTS].sort(), ['node_modules/.package-lock.json', 'package-lock.json', 'package.json', 'scripts/bundle-server.mjs', 'tsconfig.build.json', 'tsconfig.json'])
})

t.test('every build input newer than the oldest output makes it stale, the CLI as much as the bundle', async (t) => {
  for (const input of BUILD_INPUTS) {
    const { root, at } = builtRepository(t)
    // Everything rebuilt since but the CLI's outputs.
    for (const file of ['dist/server/main.js', 'dist/main.js', 'dist/main.d.ts']) at(file, 4000)
    at(input, 3000)
    t.equal(staleDist(root), `dist/cli/main.js is older than ${input}`, input)
  }
})

t.test('no npm hidden lockfile (another package manager): judged by the other inputs', async (t) => {
  const { root } = builtRepository(t)
  rmSync(join(root, 'node_modules'), { recursive: true })
  t.equal(staleDist(root), undefined)
})

t.test('a missing output, or one whose source is gone, makes it stale', async (t) => {
  const missing = builtRepository(t)
  rmSync(join(missing.root, 'dist/cli/main.d.ts'))
  t.equal(staleDist(missing.root), 'dist/cli/main.d.ts is missing')
  const orphan = builtRepository(t)
  orphan.at('dist/gone.js', 2000)
  t.equal(staleDist(orphan.root), 'dist/gone.js has no source in src/ any more')
  const noBundle = builtRepository(t)
  rmSync(join(noBundle.root, 'dist/server/main.js'))
  t.equal(staleDist(noBundle.root), 'dist/server/main.js is missing')
})
