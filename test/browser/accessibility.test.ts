import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AxeBuilder } from '@axe-core/playwright'
import t from 'tap'
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js'
import { PAGE_NAMES, routeClient, startPagesServer, visitEveryPage, type PageName } from '../helpers/page-flows.js'

// Chromium and axe-core on a busy two-core machine: a scan takes a few seconds.
t.setTimeout(600_000)

// UPDATE_SCREENSHOTS=1 writes README's screenshots; a normal run only scans.
const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots')
const SCREENSHOT_PAGES: Partial<Record<PageName, string>> = {
  'sign-in': 'sign-in',
  consent: 'consent',
  error: 'error',
  logout: 'sign-out',
  'signed-out': 'signed-out',
  device: 'device',
  'device-consent': 'device-consent',
  'device-done': 'device-done',
  'consent-self-registered': 'consent-self-registered',
  'logout-self-registered': 'sign-out-self-registered',
  'second-factor': 'second-factor',
  'recovery-code-used': 'recovery-code-used',
  'account-security': 'account-security',
  enrol: 'enrol-totp',
  'recovery-codes': 'recovery-codes',
}

if (chromiumAvailable(t)) {
  t.test('every page, light and dark: no serious or critical axe-core violation, and it fits 320 px', async (t) => {
    const chromium = await launchChromium(t)
    const server = await startPagesServer(t)
    const update = process.env.UPDATE_SCREENSHOTS === '1'
    if (update) mkdirSync(SCREENSHOTS, { recursive: true })
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const width of [1024, 320]) {
        const page = await chromium.newPage({ colorScheme, viewport: { width, height: width === 320 ? 640 : 800 } })
        await routeClient(page.context(), server.ctx.issuer)
        const seen: PageName[] = []
        await visitEveryPage(page, server, async (name) => {
          seen.push(name)
          const where = `${name}, ${colorScheme}, ${width} px`
          t.equal(await page.evaluate<boolean>("matchMedia('(prefers-color-scheme: dark)').matches"), colorScheme === 'dark', `${where}: the scheme applies`)
          // The layout is the same at both widths but for the wrapping: one scan per page and scheme.
          if (width !== 320) {
            const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze()
            const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            t.same(
              grave.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
              [],
              `${where}: no serious or critical violation`,
            )
            t.ok(results.passes.some((p) => p.id === 'color-contrast'), `${where}: contrast was checked`)
          }
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
          t.equal(overflow, 0, `${where}: no horizontal scroll`)
          const screenshot = SCREENSHOT_PAGES[name]
          if (update && width === 1024 && screenshot !== undefined) {
            await page.setViewportSize({ width: 720, height: 360 })
            await page.screenshot({ path: join(SCREENSHOTS, `${screenshot}-${colorScheme}.png`), fullPage: true })
            await page.setViewportSize({ width, height: 800 })
          }
        })
        t.same(seen, [...PAGE_NAMES], `${colorScheme}, ${width} px: every page was scanned`)
      }
    }
  })
}
