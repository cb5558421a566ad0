import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { escapeHtml, formatDuration, loadCatalogues, pickAcceptLanguage, pickUiLocale, translator } from '../../src/pages/i18n.js'

const SUPPORTED = new Set(['en', 'de', 'pt-br'])

t.test('ui_locales: the first tag latchkey has, exactly or by its primary language', async (t) => {
  t.equal(pickUiLocale(undefined, SUPPORTED), undefined)
  t.equal(pickUiLocale('', SUPPORTED), undefined)
  t.equal(pickUiLocale('de', SUPPORTED), 'de')
  t.equal(pickUiLocale('fr  de-AT en', SUPPORTED), 'de', 'order of preference; a region falls back to its language')
  t.equal(pickUiLocale('PT-BR', SUPPORTED), 'pt-br', 'case does not matter')
  t.equal(pickUiLocale('pt', SUPPORTED), undefined, 'a language does not match another region of it')
  t.equal(pickUiLocale('fr ja', SUPPORTED), undefined)
  t.equal(pickUiLocale('de_DE <b> en', SUPPORTED), 'en', 'malformed tags are skipped')
  t.equal(pickUiLocale(`${'fr '.repeat(50)}de`, SUPPORTED), undefined, 'only the first twenty are looked at')
})

t.test('Accept-Language: by weight, ties in order, q=0 and * ignored', async (t) => {
  t.equal(pickAcceptLanguage(undefined, SUPPORTED), undefined)
  t.equal(pickAcceptLanguage('de-CH, en;q=0.5', SUPPORTED), 'de')
  t.equal(pickAcceptLanguage('en;q=0.5, de;q=0.9', SUPPORTED), 'de')
  t.equal(pickAcceptLanguage('en, de', SUPPORTED), 'en', 'a tie keeps the order')
  t.equal(pickAcceptLanguage('de;q=0, en;q=0.1', SUPPORTED), 'en', 'q=0 means not this one')
  t.equal(pickAcceptLanguage('*, de;q=0.5', SUPPORTED), 'de')
  t.equal(pickAcceptLanguage('de;q=bogus', SUPPORTED), 'de', 'a malformed weight counts as 1')
  t.equal(pickAcceptLanguage('fr-FR,fr;q=0.9', SUPPORTED), undefined)
})

t.test('durations in the largest whole unit, in the language', async (t) => {
  t.equal(formatDuration(3600, 'en'), '1 hour')
  t.equal(formatDuration(5400, 'en'), '90 minutes')
  t.equal(formatDuration(2_592_000, 'en'), '30 days')
  t.equal(formatDuration(31_536_000, 'en'), '1 year')
  t.equal(formatDuration(45, 'en'), '45 seconds')
  t.equal(formatDuration(7200, 'de'), '2 Stunden')
  t.equal(formatDuration(86_400, 'de'), '1 Tag')
})

t.test('a translator fills placeholders, falls back to English, and refuses unknown keys', async (t) => {
  const catalogues = new Map<string, Record<string, string>>([
    ['en', { hello: 'Hello {name}, wait {wait}', only: 'English only {x}' }],
    ['de', { hello: 'Hallo {name}, warte {wait}' }],
  ])
  const de = translator(catalogues, 'de')
  t.equal(de.locale, 'de')
  t.equal(de.text('hello', { name: 'Bob', wait: { seconds: 120 } }), 'Hallo Bob, warte 2 Minuten')
  t.equal(de.text('only', { x: 1 }), 'English only 1', 'a missing text: English')
  t.equal(de.text('only'), 'English only {x}', 'a value not given stays as written')
  t.equal(de.strong('hello', { name: '<i>', wait: 'bald' }), 'Hallo <strong>&lt;i&gt;</strong>, warte <strong>bald</strong>')
  t.equal(de.strong('hello', { name: '<i>', wait: 'bald' }, ['name']), 'Hallo <strong><bdi>&lt;i&gt;</bdi></strong>, warte <strong>bald</strong>', 'a name someone chose, isolated')
  t.throws(() => de.text('nope'), /no text for "nope"/)
  t.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;')
})

t.test('loadCatalogues: one file per language, English required', async (t) => {
  const dir = (files: Record<string, string>) => {
    const d = mkdtempSync(join(tmpdir(), 'latchkey-locales-'))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text)
    return d
  }
  const ok = loadCatalogues(dir({ 'en.json': '{"a":"A"}', 'pt-BR.json': '{"a":"Á"}', 'README.md': 'ignored' }))
  t.same([...ok.keys()], ['en', 'pt-br'])
  t.throws(() => loadCatalogues(dir({ 'de.json': '{"a":"A"}' })), /en\.json is missing/)
  t.throws(() => loadCatalogues(dir({ 'en.json': '["a"]' })), /one JSON object of strings/)
  t.throws(() => loadCatalogues(dir({ 'en.json': '{"a":1}' })), /one JSON object of strings/)
  t.throws(() => loadCatalogues(dir({ 'en.json': 'null' })), /one JSON object of strings/)
  t.throws(() => loadCatalogues(dir({ 'en.json': '{}', 'english.json!.json': '{}' })), /must be a language tag/)
})
