import type { Page } from 'playwright-core'
import t from 'tap'
import { chromiumAvailable, launchChromium, type Chromium } from '../helpers/chromium.js'
import { appCode as totpCode } from '../helpers/mfa.js'
import { codeRequest, createClient, createUser } from '../helpers/oauth.js'
import { routeClient, sentBackToClient, signIn, startPagesServer, type PagesServer } from '../helpers/page-flows.js'

// Chromium on a busy two-core machine: a page takes a second or two.
t.setTimeout(300_000)

if (chromiumAvailable(t)) {
  let chromium: Chromium
  let server: PagesServer
  t.before(async () => {
    chromium = await launchChromium(t)
    server = await startPagesServer(t, { MFA_REQUIRED: 'enrolled' })
  })
  async function newPage(): Promise<Page> {
    const page = await chromium.newPage()
    await routeClient(page.context(), server.ctx.issuer)
    return page
  }
  /** The code carol's app shows at the server's (injected) clock. */
  const carolCode = () => totpCode(server.mfaUser.secret, server.ctx.clock.now())

  t.test('TOTP sign-in by keyboard alone, on the server\'s injected clock: back at the app with a code', async (t) => {
    // A fresh time step: no code of an earlier test is in it.
    server.ctx.clock.advance(30)
    const page = await newPage()
    await page.goto(server.authorizeUrl({ prompt: 'login consent' }))
    await signIn(page, server.mfaUser.username)
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Two-step verification')
    const field = page.getByLabel('Code from your authenticator app')
    t.equal(await field.getAttribute('inputmode'), 'numeric')
    t.equal(await field.getAttribute('autocomplete'), 'one-time-code')
    t.equal(await page.evaluate<string | undefined>('document.activeElement?.id'), 'code', 'the code field has the focus')
    await page.keyboard.type(carolCode())
    await page.keyboard.press('Enter')
    // The answer to the form, not the page it was sent from: wait for its heading.
    await page.getByRole('heading', { level: 1, name: /Allow Photo Print Shop/ }).waitFor()
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Allow Photo Print Shop/)
    const back = sentBackToClient(page)
    await page.getByRole('button', { name: 'Allow' }).click()
    t.ok((await back).get('code'))
  })

  t.test('a code already used is refused; the next one (30 s later on the server\'s clock) is accepted', async (t) => {
    server.ctx.clock.advance(30)
    const code = carolCode()
    const first = await newPage()
    await first.goto(server.authorizeUrl({ prompt: 'login consent' }))
    await signIn(first, server.mfaUser.username)
    await first.getByLabel('Code from your authenticator app').fill(code)
    await first.getByRole('button', { name: 'Verify' }).click()
    await first.getByRole('heading', { level: 1, name: /Allow/ }).waitFor()
    t.match(await first.getByRole('heading', { level: 1 }).textContent(), /Allow/)

    const second = await newPage()
    await second.goto(server.authorizeUrl({ prompt: 'login consent' }))
    await signIn(second, server.mfaUser.username)
    await second.getByLabel('Code from your authenticator app').fill(code)
    await second.getByRole('button', { name: 'Verify' }).click()
    await second.getByRole('alert').waitFor()
    t.match(await second.getByRole('alert').textContent(), /not right, or it was already used/)
    const field = second.getByLabel('Code from your authenticator app')
    t.equal(await field.getAttribute('aria-invalid'), 'true')
    t.match(await field.getAttribute('aria-describedby'), /mfa-error/)
    server.ctx.clock.advance(30)
    await field.fill(carolCode())
    await second.getByRole('button', { name: 'Verify' }).click()
    await second.getByRole('heading', { level: 1, name: /Allow/ }).waitFor()
    t.match(await second.getByRole('heading', { level: 1 }).textContent(), /Allow/)
  })

  t.test('a recovery code works once: the count left is shown, and the same code is refused after', async (t) => {
    const recovery = server.mfaUser.recoveryCodes.shift() as string
    const first = await newPage()
    await first.goto(server.authorizeUrl({ prompt: 'login consent' }))
    await signIn(first, server.mfaUser.username)
    // The recovery form opens by keyboard: a <details> summary.
    await first.locator('details.recovery summary').focus()
    await first.keyboard.press('Enter')
    await first.getByLabel('Recovery code', { exact: true }).fill(recovery)
    await first.getByRole('button', { name: 'Use recovery code' }).click()
    await first.getByRole('heading', { level: 1, name: 'You used a recovery code' }).waitFor()
    t.equal(await first.getByRole('heading', { level: 1 }).textContent(), 'You used a recovery code')
    t.match(await first.getByRole('status').textContent(), /You have \d recovery codes left/)
    await first.getByRole('button', { name: 'Continue' }).click()
    await first.getByRole('heading', { level: 1, name: /Allow/ }).waitFor()
    t.match(await first.getByRole('heading', { level: 1 }).textContent(), /Allow/)

    const second = await newPage()
    await second.goto(server.authorizeUrl({ prompt: 'login consent' }))
    await signIn(second, server.mfaUser.username)
    await second.locator('details.recovery summary').click()
    await second.getByLabel('Recovery code', { exact: true }).fill(recovery)
    await second.getByRole('button', { name: 'Use recovery code' }).click()
    await second.getByRole('alert').waitFor()
    t.match(await second.getByRole('alert').textContent(), /recovery code is not right, or it was already used/)
    t.equal(await second.locator('details.recovery').getAttribute('open'), '', 'the recovery form is still open')
  })

  t.test('a client with --require-mfa sends a user without a factor to enrol, and the sign-in completes', async (t) => {
    const client = await createClient(server.ctx, { name: 'Payroll', redirectUris: ['https://photos.example.com/payroll'], scope: 'openid profile' })
    await server.ctx.store.db.updateTable('clients').set({ require_mfa: 1 }).where('id', '=', client.client_id).execute()
    await createUser(server.ctx, 'dave')
    const page = await newPage()
    await page.goto(`${server.ctx.issuer}${codeRequest(client, { scope: 'openid' }).url}`)
    await signIn(page, 'dave')
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Set up an authenticator app')
    t.ok(await page.getByRole('img', { name: /QR code/ }).isVisible(), 'the QR code, named for screen readers')
    t.equal(await page.evaluate<number>("document.querySelectorAll('[style]').length"), 0, 'no inline style')
    const secret = ((await page.locator('.secret code').textContent()) ?? '').replace(/\s/g, '')
    t.match(secret, /^[A-Z2-7]{16,}$/)
    await page.getByLabel('Code from the app').fill(totpCode(secret, server.ctx.clock.now()))
    await page.getByRole('button', { name: 'Confirm' }).click()
    await page.getByRole('heading', { level: 1, name: 'Save your recovery codes' }).waitFor()
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Save your recovery codes')
    t.equal(await page.locator('ol.codes li').count(), 10)
    await page.getByRole('button', { name: 'I have saved them, continue' }).click()
    await page.getByRole('heading', { level: 1, name: /Allow Payroll/ }).waitFor()
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Allow Payroll/)
    const back = sentBackToClient(page)
    await page.getByRole('button', { name: 'Allow' }).click()
    t.ok((await back).get('code'))
  })

  t.test('acr_values=urn:latchkey:acr:mfa forces the second factor where the policy would not', async (t) => {
    const relaxed = await startPagesServer(t, { MFA_REQUIRED: 'off' })
    const page = await chromium.newPage()
    await routeClient(page.context(), relaxed.ctx.issuer)
    // Without acr_values: the password alone.
    await page.goto(relaxed.authorizeUrl())
    await signIn(page, relaxed.mfaUser.username)
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Allow/)
    // Asking for the mfa class: the signed-in session is not enough, and the code is asked.
    await page.goto(relaxed.authorizeUrl({ acr_values: 'urn:latchkey:acr:mfa' }))
    if ((await page.locator('form[action="/authorize/login"] input[name="password"]').count()) > 0) await signIn(page, relaxed.mfaUser.username)
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Two-step verification')
    await page.getByLabel('Code from your authenticator app').fill(totpCode(relaxed.mfaUser.secret, relaxed.ctx.clock.now()))
    await page.getByRole('button', { name: 'Verify' }).click()
    await page.getByRole('heading', { level: 1, name: /Allow/ }).waitFor()
    t.match(await page.getByRole('heading', { level: 1 }).textContent(), /Allow/)
  })
}
