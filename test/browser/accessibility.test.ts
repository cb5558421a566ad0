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
    // One walk through every page; each page is checked in the light scheme, then in the dark one
    // (emulated on the same page), and the walk goes on in light.
    const page = await chromium.newPage({ colorScheme: 'light', viewport: { width: 1024, height: 800 } })
    await routeClient(page.context(), server.ctx.issuer)
    const seen: Record<'light' | 'dark', PageName[]> = { light: [], dark: [] }
    await visitEveryPage(page, server, async (name) => {
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme })
        seen[colorScheme].push(name)
        const where = `${name}, ${colorScheme}`
        t.equal(await page.evaluate<boolean>("matchMedia('(prefers-color-scheme: dark)').matches"), colorScheme === 'dark', `${where}: the scheme applies`)
        // The structure is the same in both schemes: the dark one (latchkey.css) changes colour
        // custom properties only, and must stay so. Every rule in the light scheme; in the dark
        // one, the rules that read colours.
        const axe = new AxeBuilder({ page })
        const results = await (colorScheme === 'light' ? axe.withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']) : axe.withRules(['color-contrast', 'link-in-text-block'])).analyze()
        const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        t.same(
          grave.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
          [],
          `${where}: no serious or critical violation`,
        )
        t.ok(results.passes.some((p) => p.id === 'color-contrast'), `${where}: contrast was checked`)
        // The layout is the same at both widths but for the wrapping: the same page, narrowed
        // (pages.test.ts signs in and consents on a 320 px phone, by touch).
        for (const width of [1024, 320]) {
          await page.setViewportSize({ width, height: width === 320 ? 640 : 800 })
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
          t.equal(overflow, 0, `${where}, ${width} px: no horizontal scroll`)
        }
        await page.setViewportSize({ width: 1024, height: 800 })
        const screenshot = SCREENSHOT_PAGES[name]
        if (update && screenshot !== undefined) {
          await page.setViewportSize({ width: 720, height: 360 })
          await page.screenshot({ path: join(SCREENSHOTS, `${screenshot}-${colorScheme}.png`), fullPage: true })
          await page.setViewportSize({ width: 1024, height: 800 })
        }
      }
      await page.emulateMedia({ colorScheme: 'light' })
    })
    for (const colorScheme of ['light', 'dark'] as const) t.same(seen[colorScheme], [...PAGE_NAMES], `${colorScheme}: every page was scanned`)
    await page.close()
  })
}
