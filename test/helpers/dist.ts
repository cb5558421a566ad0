import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

/** What the build reads besides src/: a newer one means dist/ is out of date too. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'scripts/bundle-server.mjs', 'package-lock.json']
/** Written by the bundle step (scripts/bundle-server.mjs), not compiled from one source file each. */
const BUNDLE = 'dist/server/main.js'

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
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
  for (const source of sources) {
    const base = join(root, 'dist', relative(join(root, 'src'), source)).replace(/\.ts$/, '')
    const sourceTime = mtime(source)
    for (const built of [`${base}.js`, `${base}.d.ts`]) {
      if (!existsSync(built)) return `${relative(root, built)} is missing`
      if (mtime(built) < sourceTime) return `${relative(root, built)} is older than ${relative(root, source)}`
    }
    if (bundleTime < sourceTime) return `${BUNDLE} is older than ${relative(root, source)}`
  }
  for (const input of BUILD_INPUTS) {
    if (bundleTime < mtime(join(root, input))) return `${BUNDLE} is older than ${input}`
  }
  const compiled = new Set(sources.map((source) => relative(join(root, 'src'), source).replace(/\.ts$/, '.js')))
  for (const file of filesUnder(join(root, 'dist'))) {
    const path = relative(join(root, 'dist'), file)
    if (!path.endsWith('.js') || `dist/${path}` === BUNDLE || path.startsWith('server-test-')) continue
    if (!compiled.has(path)) return `dist/${path} has no source in src/ any more`
  }
  return undefined
}
