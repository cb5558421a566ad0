import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * What the build reads besides src/: a newer one means dist/ is out of date too. The bundle
 * copies its dependencies in, so an install that changes node_modules/ (npm rewrites its
 * hidden lockfile, node_modules/.package-lock.json, at every install) makes it stale as well.
 */
export const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'scripts/bundle-server.mjs', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json']
/** Written by the bundle step (scripts/bundle-server.mjs), not compiled from one source file each. */
const BUNDLE = 'dist/server/main.js'

function filesUnder(dir: string): string[] {
  // bundle.test.ts removes its dist/server-test-<pid>/ when it ends, perhaps during the walk.
  for (let attempt = 1; ; attempt++) {
    if (!existsSync(dir)) return []
    try {
      return readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error
    }
  }
}

/**
 * Why the repository's dist/ is not the build of its sources as they are now, or undefined when
 * it is. `npm ci` and `npm install` build dist/ (the `prepare` script), and so does `npm run
 * build`; editing a source, or checking out another commit, without building makes it stale.
 * Judged by modification times: every src/ file has its .js and .d.ts no older than itself, the
 * server bundle is no older than any source or build input, and no compiled file is left over
 * from a source that is gone (the package would ship it).
 */
export function staleDist(root: string): string | undefined {
  const mtime = (file: string) => statSync(file).mtimeMs
  const sources = filesUnder(join(root, 'src')).filter((file) => file.endsWith('.ts'))
  const bundle = join(root, BUNDLE)
  if (!existsSync(bundle)) return `${BUNDLE} is missing`
  const bundleTime = mtime(bundle)
  // The oldest file of the build: tsc (not incremental) rewrites every output at each build.
  let oldest = { file: BUNDLE, time: bundleTime }
  for (const source of sources) {
    const base = join(root, 'dist', relative(join(root, 'src'), source)).replace(/\.ts$/, '')
    const sourceTime = mtime(source)
    for (const built of [`${base}.js`, `${base}.d.ts`]) {
      if (!existsSync(built)) return `${relative(root, built)} is missing`
      const builtTime = mtime(built)
      if (builtTime < sourceTime) return `${relative(root, built)} is older than ${relative(root, source)}`
      if (builtTime < oldest.time) oldest = { file: relative(root, built), time: builtTime }
    }
    if (bundleTime < sourceTime) return `${BUNDLE} is older than ${relative(root, source)}`
  }
  for (const input of BUILD_INPUTS) {
    const path = join(root, input)
    // node_modules/.package-lock.json is npm's; another package manager has none.
    if (existsSync(path) && oldest.time < mtime(path)) return `${oldest.file} is older than ${input}`
  }
  const compiled = new Set(sources.map((source) => relative(join(root, 'src'), source).replace(/\.ts$/, '.js')))
  for (const file of filesUnder(join(root, 'dist'))) {
    const path = relative(join(root, 'dist'), file)
    if (!path.endsWith('.js') || `dist/${path}` === BUNDLE || path.startsWith('server-test-')) continue
    if (!compiled.has(path)) return `dist/${path} has no source in src/ any more`
  }
  return undefined
}
