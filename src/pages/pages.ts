import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Eta } from 'eta'
import type { FastifyReply } from 'fastify'
import type { Brand, BrandLogo } from '../config.js'
import { brandColors } from './brand-colors.js'
import {
  DEFAULT_LOCALE,
  loadCatalogues,
  pickAcceptLanguage,
  pickUiLocale,
  translator,
  type Catalogue,
  type PageMessage,
  type Translator,
} from './i18n.js'

// views/ and locales/ sit beside src/ and dist/, so these resolve from either.
const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url))
const LOCALES_DIR = fileURLToPath(new URL('../../locales', import.meta.url))

export type View =
  | 'login'
  | 'consent'
  | 'error'
  | 'logout'
  | 'signed-out'
  | 'device'
  | 'device-done'
  | 'second-factor'
  | 'enrol-totp'
  | 'recovery-codes'
  | 'account-security'

/** A file latchkey serves for its pages: its bytes, type and validator. */
export interface Asset {
  body: Buffer
  contentType: string
  /** A strong ETag: the content's hash. */
  etag: string
  /** The path pages link to; the `v` query is the hash, so a new version is a new URL. */
  url: string
  /** Subresource Integrity (sha384), for the script tags. */
  integrity: string
}

export interface PageAssets {
  stylesheet: Asset
  logo: Asset | undefined
  /** @simplewebauthn/browser's bundle and latchkey's passkey script, in load order. */
  passkeyScripts: readonly [Asset, Asset]
}

export interface RenderOptions {
  status?: number
  /**
   * The language the flow chose (ui_locales kept in the transaction, or posted by the logout
   * form); otherwise the request's `ui_locales` query, then Accept-Language, then English.
   */
  locale?: string | null | undefined
}

export interface Pages {
  /** The languages of the pages (discovery's `ui_locales_supported`), English first. */
  readonly locales: readonly string[]
  readonly assets: PageAssets
  /** The first tag of an OIDC `ui_locales` value that the pages have, if any. */
  pickUiLocale(uiLocales: string | undefined): string | undefined
  render(reply: FastifyReply, view: View, data: Record<string, unknown>, options?: RenderOptions): FastifyReply
}

/**
 * Headers for every page and redirect of the authorization endpoint. No form-action (it
 * would apply to the 303 after a form post) and no upgrade-insecure-requests on an http issuer.
 * Cache-Control: no-store comes from the app's onSend hook, as for every response.
 */
export function setPageHeaders(reply: FastifyReply): void {
  reply
    // RFC 9700 §4.16: no framing (clickjacking); §4.2.4: no referrer leakage.
    .header('content-security-policy', "default-src 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
}

function asset(path: string, body: Buffer, contentType: string): Asset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16)
  const integrity = `sha384-${createHash('sha384').update(body).digest('base64')}`
  return { body, contentType, etag: `"${hash}"`, url: `${path}?v=${hash}`, integrity }
}

const SCRIPT = 'application/javascript; charset=utf-8'

/**
 * The passkey buttons' scripts, served by latchkey (CSP `default-src 'self'`: no inline script,
 * no third-party host): @simplewebauthn/browser's UMD bundle, then views/passkeys.js.
 */
function passkeyScripts(viewsDir: string): readonly [Asset, Asset] {
  // The package's exports name only its entry points: its bundle sits beside them.
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser')
  const bundle = readFileSync(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'))
  return [asset('/assets/webauthn.js', bundle, SCRIPT), asset('/assets/passkeys.js', readFileSync(`${viewsDir}/passkeys.js`), SCRIPT)]
}

/** latchkey.css behind the brand's colours, computed once: one stylesheet, one request. */
function stylesheet(viewsDir: string, color: string): Asset {
  const colors = brandColors(color)
  const root = `:root {\n  --brand: ${colors.brand};\n  --on-brand: ${colors.onBrand};\n  --accent-light: ${colors.accentLight};\n  --accent-dark: ${colors.accentDark};\n}\n`
  const css = readFileSync(`${viewsDir}/latchkey.css`, 'utf8')
  return asset('/assets/latchkey.css', Buffer.from(`${root}${css}`), 'text/css; charset=utf-8')
}

function logoAsset(logo: BrandLogo | undefined): Asset | undefined {
  return logo && asset('/assets/logo', logo.data, logo.contentType)
}

/**
 * The built-in scopes' descriptions as the migrations wrote them: while an administrator has not
 * changed one, the page shows it in the page's language; a changed one is shown as written.
 */
const BUILT_IN_SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Sign you in with your latchkey account and learn your user id',
  profile: 'See your name and username',
  email: 'See your email address',
  offline_access: 'Keep access while you are not using it, until you revoke it',
}

export function createPages(options: { brand: Brand; viewsDir?: string; localesDir?: string }): Pages {
  const viewsDir = options.viewsDir ?? VIEWS_DIR
  const catalogues: ReadonlyMap<string, Catalogue> = loadCatalogues(options.localesDir ?? LOCALES_DIR)
  const supported = new Set(catalogues.keys())
  const locales = [DEFAULT_LOCALE, ...[...supported].filter((l) => l !== DEFAULT_LOCALE)]
  const eta = new Eta({ views: viewsDir, autoEscape: true, cache: true })
  const assets: PageAssets = {
    stylesheet: stylesheet(viewsDir, options.brand.color),
    logo: logoAsset(options.brand.logo),
    passkeyScripts: passkeyScripts(viewsDir),
  }
  const translators = new Map(locales.map((locale) => [locale, translator(catalogues, locale)]))

  const localeOf = (reply: FastifyReply, chosen: string | null | undefined): string => {
    if (chosen && supported.has(chosen)) return chosen
    const query = reply.request.query as Record<string, unknown> | undefined
    const uiLocales = typeof query?.ui_locales === 'string' ? query.ui_locales : undefined
    return pickUiLocale(uiLocales, supported) ?? pickAcceptLanguage(reply.request.headers['accept-language'], supported) ?? DEFAULT_LOCALE
  }

  const scopeText = (t: Translator, scope: { name: string; description: string }): string =>
    BUILT_IN_SCOPE_DESCRIPTIONS[scope.name] === scope.description
      ? t.text(`scope.${scope.name}`, { brand: options.brand.name })
      : scope.description || scope.name

  return {
    locales,
    assets,
    pickUiLocale: (uiLocales) => pickUiLocale(uiLocales, supported),
    render(reply, view, data, renderOptions = {}) {
      setPageHeaders(reply)
      const locale = localeOf(reply, renderOptions.locale)
      const t = translators.get(locale) as Translator
      const html = eta.render(`./${view}`, {
        ...data,
        t,
        lang: locale,
        brand: { name: options.brand.name, logoUrl: assets.logo?.url },
        stylesheetUrl: assets.stylesheet.url,
        // A view that shows passkey buttons sets `passkeyScripts: true` in its layout call.
        scripts: assets.passkeyScripts.map((a) => ({ url: a.url, integrity: a.integrity })),
        message: (m: PageMessage | undefined) => m && t.text(m.key, m.values),
        scopeText: (scope: { name: string; description: string }) => scopeText(t, scope),
      })
      // Caches keep one copy per language (they are no-store anyway; this is for correctness).
      reply.header('content-language', locale).header('vary', 'Accept-Language')
      return reply
        .code(renderOptions.status ?? 200)
        .type('text/html; charset=utf-8')
        .send(html)
    },
  }
}
