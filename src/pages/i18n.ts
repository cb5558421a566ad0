import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** One language's page texts: a key, a text with `{name}` placeholders. */
export type Catalogue = Readonly<Record<string, string>>

/** A value put into a text: as it is, or a number of seconds written as a duration. */
export type MessageValue = string | number | { seconds: number }

export type MessageValues = Readonly<Record<string, MessageValue>>

/** A text chosen by a page's handler (the login error, for one), rendered in the page's language. */
export interface PageMessage {
  key: string
  values?: MessageValues
}

export const DEFAULT_LOCALE = 'en'

// A BCP 47 tag as far as latchkey needs it: a primary language and optional subtags.
const LANGUAGE_TAG = /^[a-z]{2,8}(-[a-z0-9]{1,8})*$/i

/**
 * A tag Intl accepts (pages format durations and numbers in it), checked once at start. Only
 * the tag is checked: building a formatter here would load ICU's data at start (some 40 ms)
 * instead of at the first page, and Intl falls back for a language it has no data for anyway.
 */
function isUsableLocale(tag: string): boolean {
  try {
    Intl.getCanonicalLocales(tag)
    return true
  } catch {
    return false
  }
}

/**
 * Every `NAME.json` in the folder is the catalogue of language NAME (a BCP 47 tag): adding a
 * language is adding a file. English must be there: it is the fallback.
 */
export function loadCatalogues(dir: string): ReadonlyMap<string, Catalogue> {
  const catalogues = new Map<string, Catalogue>()
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const tag = file.slice(0, -'.json'.length)
    if (!LANGUAGE_TAG.test(tag) || !isUsableLocale(tag)) throw new Error(`${join(dir, file)}: the file name must be a language tag such as de or pt-BR`)
    const parsed: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
      throw new Error(`${join(dir, file)}: must be one JSON object of strings`)
    }
    catalogues.set(tag.toLowerCase(), parsed as Catalogue)
  }
  if (!catalogues.has(DEFAULT_LOCALE)) throw new Error(`${dir}: ${DEFAULT_LOCALE}.json is missing`)
  return catalogues
}

/** The first tag of a preference list that latchkey has: exactly, or by its primary language. */
function firstSupported(tags: readonly string[], supported: ReadonlySet<string>): string | undefined {
  for (const raw of tags) {
    const tag = raw.toLowerCase()
    if (!LANGUAGE_TAG.test(tag)) continue
    if (supported.has(tag)) return tag
    const primary = tag.split('-')[0] as string
    if (supported.has(primary)) return primary
  }
  return undefined
}

/** OIDC Core §3.1.2.1 `ui_locales`: space-separated tags in order of preference; unknown ones are ignored. */
export function pickUiLocale(uiLocales: string | undefined, supported: ReadonlySet<string>): string | undefined {
  if (uiLocales === undefined) return undefined
  // A handful is plenty; the rest of an absurdly long value is not looked at.
  return firstSupported(uiLocales.split(' ').filter((tag) => tag !== '').slice(0, 20), supported)
}

/** RFC 9110 §12.5.4 Accept-Language: tags by descending weight (ties keep their order); q=0 means "not this". */
export function pickAcceptLanguage(header: string | undefined, supported: ReadonlySet<string>): string | undefined {
  if (header === undefined) return undefined
  const ranges = header
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';')
      const q = params.map((p) => /^\s*q=([01](\.\d{0,3})?)\s*$/i.exec(p)?.[1]).find((v) => v !== undefined)
      return { tag: tag.trim(), weight: q === undefined ? 1 : Number(q), index }
    })
    .filter((range) => range.weight > 0 && range.tag !== '*')
    .sort((a, b) => b.weight - a.weight || a.index - b.index)
  return firstSupported(
    ranges.map((range) => range.tag),
    supported,
  )
}

/** A duration in the largest whole unit it fits (90 minutes stays minutes), in the language's words. */
export function formatDuration(seconds: number, locale: string): string {
  const units: [Intl.NumberFormatOptions['unit'], number][] = [
    ['year', 365 * 86_400],
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ]
  const [unit, size] = units.find(([, size]) => seconds >= size && seconds % size === 0) ?? ['second', 1]
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(seconds / size)
}

/** The texts of one language, English standing in for a key it lacks. */
export interface Translator {
  readonly locale: string
  /** The text of `key` with its placeholders filled in (not HTML-escaped: templates escape). */
  text(key: string, values?: MessageValues): string
  /**
   * The text as HTML: everything escaped, each filled-in value in <strong>; those named in
   * `isolate` (a name someone else chose) also in <bdi>, so right-to-left text in them cannot
   * reorder the sentence around them.
   */
  strong(key: string, values: MessageValues, isolate?: readonly string[]): string
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string)
}

export function translator(catalogues: ReadonlyMap<string, Catalogue>, locale: string): Translator {
  const own = catalogues.get(locale)
  const fallback = catalogues.get(DEFAULT_LOCALE) as Catalogue
  const template = (key: string): string => {
    const text = own?.[key] ?? fallback[key]
    // A template asking for a text no catalogue has is a bug, caught by the page tests.
    if (text === undefined) throw new Error(`no text for "${key}"`)
    return text
  }
  const value = (v: MessageValue): string => (typeof v === 'object' ? formatDuration(v.seconds, locale) : String(v))
  const fill = (key: string, values: MessageValues, wrap: (s: string, name: string) => string, plain: (s: string) => string): string =>
    template(key)
      .split(/(\{[a-zA-Z]+\})/)
      .map((part) => {
        const name = /^\{([a-zA-Z]+)\}$/.exec(part)?.[1]
        const v = name === undefined ? undefined : values[name]
        return v === undefined ? plain(part) : wrap(value(v), name as string)
      })
      .join('')
  return {
    locale,
    text: (key, values = {}) => fill(key, values, (s) => s, (s) => s),
    strong: (key, values, isolate = []) =>
      fill(key, values, (s, name) => (isolate.includes(name) ? `<strong><bdi>${escapeHtml(s)}</bdi></strong>` : `<strong>${escapeHtml(s)}</strong>`), escapeHtml),
  }
}
