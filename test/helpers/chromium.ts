import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import type { Test } from 'tap'

/** Debian's chromium (`apt-get install chromium`); .ci/run installs it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Flags that work offline, as root, without a GPU: nothing is fetched, nothing updates. Every
 * host name but localhost resolves to "not found" inside Chromium, so no DNS query leaves the
 * machine whatever a page links to: tests reach latchkey by address (127.0.0.1).
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
]

/**
 * Whether this run can drive Chromium. Without it, a developer's run skips the browser tests
 * and says why; CI (CI=true) fails instead, so a missing browser never passes silently.
 */
export function chromiumAvailable(t: Test): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  const message = `no Chromium at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`${message}; CI must run the browser tests`)
  } else {
    // A plan of 0 with a reason: the file reports itself as skipped, and why.
    t.plan(0, `browser tests skipped: ${message}`)
  }
  return false
}

export interface Chromium {
  browser: Browser
  /** A new context (own cookies, viewport, colour scheme, language) and a page in it. */
  newPage(options?: BrowserContextOptions): Promise<Page>
  /** Closes every context and the browser; also done at the end of the test. */
  close(): Promise<void>
}

/**
 * Launches Chromium for the test and closes it at its end. playwright-core gives each launch a
 * fresh temporary user-data directory and removes it on close. Call chromiumAvailable(t) first.
 */
export async function launchChromium(t: Test): Promise<Chromium> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS })
  const contexts: BrowserContext[] = []
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const context of contexts) await context.close().catch(() => undefined)
    await browser.close()
  }
  t.teardown(close)
  return {
    browser,
    close,
    async newPage(options = {}) {
      const context = await browser.newContext({ locale: 'en-US', ...options })
      contexts.push(context)
      return context.newPage()
    },
  }
}
