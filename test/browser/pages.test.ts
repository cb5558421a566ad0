import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { chromiumAvailable, launchChromium, type Chromium } from '../helpers/chromium.js'
import { PASSWORD } from '../helpers/oauth.js'
import { CLIENT_ORIGIN, routeClient, sentBackToClient, signIn, startPagesServer, type PagesServer } from '../helpers/page-flows.js'

// Chromium on a busy two-core machine: a page takes a second or two.
t.setTimeout(300_000)

interface Focused {
  tag: string | undefined
  name: string | null
  value: string | null
  text: string
  outline: string
}

// Run in the page (a string: src/ and test/ compile without the DOM's types).
const FOCUSED = `(() => {
  const el = document.activeElement
  const style = el && getComputedStyle(el)
  return {
    tag: el?.tagName.toLowerCase(),
    name: el?.getAttribute('name') ?? null,
    value: el?.getAttribute('value') ?? null,
    text: el?.textContent?.trim() ?? '',
    outline: style ? style.outlineStyle + ' ' + style.outlineWidth : '',
  }
})()`

/** What the focused element is, as a person tabbing through the page would see it. */
function focused(page: Page): Promise<Focused> {
  return page.evaluate<Focused>(FOCUSED)
}

const HORIZONTAL_OVERFLOW = 'document.documentElement.scrollWidth - document.documentElement.clientWidth'

/** Presses Tab until the focus is on an element matching `want` (at most `limit` presses). */
async function tabTo(page: Page, want: (f: Focused) => boolean, limit = 10): Promise<Focused> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab')
    const f = await focused(page)
    if (want(f)) return f
  }
  throw new Error('never reached by Tab')
}

if (chromiumAvailable(t)) {
  let chromium: Chromium
  let server: PagesServer
  t.before(async () => {
    chromium = await launchChromium(t)
    server = await startPagesServer(t)
  })
  async function newPage(chromium: Chromium, options: Parameters<Chromium['newPage']>[0] = {}): Promise<Page> {
    const page = await chromium.newPage(options)
    await routeClient(page.context(), server.ctx.issuer)
    return page
  }

  t.test('a wrong password: the page says so, in an alert the fields point to, and keeps the username', async (t) => {
    const page = await newPage(chromium)
    await page.goto(server.authorizeUrl())
    await signIn(page, server.username, 'not the password')
    const alert = page.getByRole('alert')
    t.equal(await alert.textContent(), 'Wrong username or password.')
    const alertId = await alert.getAttribute('id')
    t.ok(alertId, 'the alert has an id')
    for (const label of ['Username', 'Password']) {
      const field = page.getByLabel(label)
      t.equal(await field.getAttribute('aria-describedby'), alertId, `${label} is described by the alert`)
      t.equal(await field.getAttribute('aria-invalid'), 'true', `${label} is marked invalid`)
    }
    t.equal(await page.getByLabel('Username').inputValue(), server.username, 'the username is kept')
    t.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not')
  })

  t.test('deny on the consent page: back at the app with access_denied', async (t) => {
    const page = await newPage(chromium)
    await page.goto(server.authorizeUrl({ state: 'deny-state' }))
    await signIn(page, server.username)
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Allow Photo Print Shop to access your account\?/)
    t.match(await page.locator('main').textContent(), /photos\.example\.com/, 'the host it sends you back to')
    t.match(await page.locator('main').textContent(), /Signed in as alice/, 'which account')
    t.match(await page.locator('main').textContent(), /Each access lasts 1 hour.*every 30 days, for 1 year at most/s, 'for how long, from the configuration')
    const back = sentBackToClient(page)
    await page.getByRole('button', { name: 'Deny' }).click()
    const query = await back
    t.equal(query.get('error'), 'access_denied')
    t.equal(query.get('state'), 'deny-state')
    t.equal(query.get('code'), null)
  })

  t.test('prompt=none without a session: straight back to the app with login_required, no page', async (t) => {
    const page = await newPage(chromium)
    const back = sentBackToClient(page)
    // The redirect's target is not answered: goto reports the failed navigation.
    await page.goto(server.authorizeUrl({ prompt: 'none', state: 'silent' })).catch(() => undefined)
    const query = await back
    t.equal(query.get('error'), 'login_required')
    t.equal(query.get('state'), 'silent')
  })

  t.test('an unregistered redirect URI: an error page for a person, the detail for a developer, no redirect', async (t) => {
    const page = await newPage(chromium)
    const res = await page.goto(server.authorizeUrl({ redirect_uri: `${CLIENT_ORIGIN}/elsewhere` }))
    t.equal(res?.status(), 400)
    t.equal(new URL(page.url()).origin, server.ctx.issuer, 'still on latchkey')
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This request cannot be completed')
    t.match(await page.getByRole('alert').textContent(), /send you back to an address it has not registered/)
    const details = page.getByRole('region', { name: 'Details for developers' })
    t.match(await details.textContent(), /invalid_request/)
    t.match(await details.textContent(), /redirect_uri is not registered for this client/)
  })

  t.test('German via ui_locales=de, kept through the login and consent posts', async (t) => {
    // The browser asks for English: ui_locales wins.
    const page = await newPage(chromium, { locale: 'en-US' })
    await page.goto(server.authorizeUrl({ ui_locales: 'fr-CA de' }))
    t.equal(await page.getAttribute('html', 'lang'), 'de')
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Anmelden')
    await signIn(page, server.username, 'falsch')
    t.equal(await page.getByRole('alert').textContent(), 'Benutzername oder Passwort ist falsch.', 'the login post answers in German')
    await signIn(page, server.username)
    t.equal(await page.getAttribute('html', 'lang'), 'de', 'so does the consent page')
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Photo Print Shop Zugriff auf Ihr Konto erlauben\?/)
    t.match(await page.locator('main').textContent(), /Jeder Zugriff gilt 1 Stunde/)
    t.match(await page.locator('main').textContent(), /Ihre E-Mail-Adresse sehen/, 'built-in scopes in German')
    const back = sentBackToClient(page)
    await page.getByRole('button', { name: 'Erlauben' }).click()
    t.ok((await back).get('code'), 'allowed')
  })

  t.test('German via Accept-Language when no ui_locales is given', async (t) => {
    const page = await newPage(chromium, { locale: 'de-DE' })
    await page.goto(server.authorizeUrl())
    t.equal(await page.getAttribute('html', 'lang'), 'de')
    t.equal(await page.getByLabel('Passwort').getAttribute('type'), 'password')
    const error = await newPage(chromium, { locale: 'de-AT' })
    await error.goto(server.authorizeUrl({ redirect_uri: `${CLIENT_ORIGIN}/elsewhere` }))
    t.equal(await error.getByRole('heading', { level: 1 }).textContent(), 'Diese Anfrage kann nicht ausgeführt werden')
    const english = await newPage(chromium, { locale: 'fr-FR' })
    await english.goto(server.authorizeUrl())
    t.equal(await english.getAttribute('html', 'lang'), 'en', 'a language latchkey lacks: English')
  })

  t.test('keyboard only: every form works with Tab and Enter, and the focus is visible', async (t) => {
    const page = await newPage(chromium)
    await page.goto(server.authorizeUrl({ state: 'keys', prompt: 'login consent' }))
    let f = await tabTo(page, (f) => f.name === 'username')
    t.match(f.outline, /^solid [3-9]/, 'the focused field shows a ring')
    await page.keyboard.type(server.username)
    f = await tabTo(page, (f) => f.name === 'password', 1)
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press('Enter')
    await page.locator('form[action="/authorize/consent"]').waitFor()

    // "Use another account" and back, by keyboard.
    f = await tabTo(page, (f) => f.tag === 'button' && /another account/.test(f.text))
    t.match(f.outline, /^solid [3-9]/, 'the focused button shows a ring')
    await page.keyboard.press('Enter')
    await page.getByLabel('Password').waitFor()
    await tabTo(page, (f) => f.name === 'username')
    await page.keyboard.type(server.username)
    await tabTo(page, (f) => f.name === 'password', 1)
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press('Enter')
    await page.locator('form[action="/authorize/consent"]').waitFor()

    f = await tabTo(page, (f) => f.value === 'allow')
    t.equal(f.text, 'Allow')
    const back = sentBackToClient(page)
    await page.keyboard.press('Enter')
    const query = await back
    t.ok(query.get('code'), 'a code')
    t.equal(query.get('state'), 'keys')

    // The same browser (its session cookie), a new tab: the first is still on its way to the app.
    const logout = await page.context().newPage()
    await logout.goto(`${server.ctx.issuer}/logout`)
    f = await tabTo(logout, (f) => f.tag === 'button' && f.text === 'Sign out')
    t.match(f.outline, /^solid [3-9]/)
    await logout.keyboard.press('Enter')
    await logout.getByRole('heading', { name: 'You are signed out' }).waitFor()
    t.pass('signed out by keyboard')
  })

  t.test('the logout confirmation keeps ui_locales for the signed-out page', async (t) => {
    const page = await newPage(chromium)
    await page.goto(`${server.ctx.issuer}/logout?ui_locales=de`)
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Abmelden?')
    await page.getByRole('button', { name: 'Abmelden' }).click()
    await page.getByRole('heading', { name: 'Sie sind abgemeldet' }).waitFor()
    t.equal(await page.getAttribute('html', 'lang'), 'de')
  })

  t.test('a 320-pixel-wide phone: no horizontal scroll, the buttons fit', async (t) => {
    const page = await newPage(chromium, { viewport: { width: 320, height: 640 }, isMobile: true, hasTouch: true })
    await page.goto(server.authorizeUrl({ prompt: 'consent' }))
    await signIn(page, server.username)
    const overflow = await page.evaluate<number>(HORIZONTAL_OVERFLOW)
    t.equal(overflow, 0, 'the consent page fits')
    for (const name of ['Allow', 'Deny']) {
      const box = await page.getByRole('button', { name }).boundingBox()
      t.ok(box && box.x >= 0 && box.x + box.width <= 320, `${name} is on screen`)
      t.ok(box && box.height >= 44, `${name} is at least 44 px tall (WCAG 2.5.5)`)
    }
  })

  t.test('the brand under the CSP: the stylesheet applies, BRAND_COLOR colours the button, the logo loads', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-brand-'))
    const logo = join(dir, 'logo.svg')
    writeFileSync(logo, '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32" viewBox="0 0 64 32"><rect width="64" height="32" rx="6" fill="#0a7e3b"/></svg>')
    const branded = await startPagesServer(t, { BRAND_NAME: 'Acme Accounts', BRAND_COLOR: '#0a7e3b', BRAND_LOGO: logo })
    const page = await chromium.newPage()
    await routeClient(page.context(), branded.ctx.issuer)
    const refused: string[] = []
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text())
    })
    await page.goto(branded.authorizeUrl())
    t.equal(await page.title(), 'Sign in · Acme Accounts')
    t.equal(await page.locator('.brand-name').textContent(), 'Acme Accounts')
    t.equal(await page.evaluate<string>("getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor"), 'rgb(10, 126, 59)')
    t.equal(await page.evaluate<number>("document.querySelector('img.brand-logo').naturalWidth"), 64, 'the logo, served by latchkey, loaded')
    t.same(refused, [], 'nothing refused by the CSP')
  })
}
