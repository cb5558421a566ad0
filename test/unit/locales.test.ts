import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadCatalogues } from '../../src/pages/i18n.js'

// Adding a language is adding locales/TAG.json with the same keys as English.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
const catalogues = loadCatalogues(join(ROOT, 'locales'))
const english = catalogues.get('en') as Record<string, string>

const placeholders = (text: string) => [...text.matchAll(/\{([a-zA-Z]+)\}/g)].map((m) => m[1]).sort()

t.test('every catalogue has exactly the keys of English, with the same placeholders', async (t) => {
  t.ok(catalogues.size >= 2, 'English and German at least')
  for (const [tag, catalogue] of catalogues) {
    t.same(Object.keys(catalogue).sort(), Object.keys(english).sort(), `${tag}: the same keys as en`)
    for (const [key, text] of Object.entries(catalogue)) {
      t.same(placeholders(text), placeholders(english[key] ?? ''), `${tag} ${key}: the same placeholders`)
      t.not(text.trim(), '', `${tag} ${key}: not empty`)
    }
  }
})

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : []))
}

t.test('every text the pages and routes ask for is in English', async (t) => {
  const used = new Set<string>()
  for (const file of [...files(join(ROOT, 'views'), '.eta'), ...files(join(ROOT, 'src'), '.ts')]) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/it\.t\.(?:text|strong)\('([\w.]*\w)'/g)) used.add(m[1] as string)
    for (const m of text.matchAll(/\?\s*'([\w.]+)'\s*:\s*'([\w.]+)'/g)) if (file.endsWith('.eta')) used.add(m[1] as string).add(m[2] as string)
    for (const m of text.matchAll(/\bkey: '(\w+\.[\w.]+)'/g)) used.add(m[1] as string)
  }
  // Built from a value: every error reason, every built-in scope.
  const errors = readFileSync(join(ROOT, 'src/errors.ts'), 'utf8')
  const reasons = /export type ErrorReason =([^=]*?)\n\n/.exec(errors)?.[1] ?? ''
  for (const m of reasons.matchAll(/'(\w+)'/g)) used.add(`error.reason.${m[1]}`)
  for (const scope of ['openid', 'profile', 'email', 'offline_access']) used.add(`scope.${scope}`)
  t.ok(used.size > 40, `found the texts in use (${used.size})`)
  t.same([...used].filter((key) => !(key in english)), [], 'none missing')
  t.same(Object.keys(english).filter((key) => !used.has(key) && key !== 'language'), [], 'none unused')
})
