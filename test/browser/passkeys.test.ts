import type { CDPSession, Page } from 'playwright-core'
import { AxeBuilder } from '@axe-core/playwright'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js'
import { codeRequest, createClient, createUser } from '../helpers/oauth.js'
import { CLIENT_ORIGIN, routeClient, sentBackToClient, signIn } from '../helpers/page-flows.js'
import { startLatchkey } from '../helpers/server.js'

// Chromium on a busy two-core machine: a page takes a second or two.
t.setTimeout(300_000)

/** Chromium's virtual authenticator (DevTools WebAuthn domain): a platform authenticator with user verification. */
async function virtualAuthenticator(page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  })
  return { cdp, authenticatorId }
}

/** No serious or critical axe-core violation on the page as it is now. */
async function axeClean(t: Test, page: Page, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze()
  const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  t.same(grave.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `${name}: axe-core`)
}

if (chromiumAvailable(t)) {
  t.test('a passkey registered on the account page signs in alone, through consent to tokens', async (t) => {
    const chromium = await launchChromium(t)
    // WebAuthn takes a host name as RP ID, never an IP address; http://localhost is a secure context.
    const ctx = await startLatchkey(t, { issuerHost: 'localhost' })
    const { id: userId } = await createUser(ctx, 'alice')
    const client = await createClient(ctx, { name: 'Photo Print Shop', redirectUris: [`${CLIENT_ORIGIN}/callback`], scope: 'openid profile' })
    const page = await chromium.newPage()
    await routeClient(page.context(), ctx.issuer)
    const { cdp, authenticatorId } = await virtualAuthenticator(page)

    // Password first, then the account page: the passkey form shows once the script finds WebAuthn.
    const first = codeRequest(client, { scope: 'openid profile' })
    await page.goto(`${ctx.issuer}${first.url}`)
    t.ok(await page.locator('#passkey-sign-in').isVisible(), 'the login page offers a passkey')
    await signIn(page, 'alice')
    await page.locator('form[action="/authorize/consent"]').waitFor()
    await page.goto(`${ctx.issuer}/account/security`)
    // By keyboard: the name field, then Enter submits the form the script handles.
    await page.getByLabel('Name of the new passkey').fill('Virtual key')
    await page.getByLabel('Name of the new passkey').press('Enter')
    await page.getByText('Virtual key', { exact: true }).waitFor()
    await axeClean(t, page, 'the account page with a passkey')
    // The same authenticator again: the browser refuses (excludeCredentials), the page says so.
    await page.locator('#passkey-add').click()
    await page.getByText('The passkey could not be added. Try again.').waitFor()
    t.ok(await page.locator('#passkey-add').isEnabled(), 'the button works again after a failure')
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    t.equal(credentials.length, 1, 'the authenticator holds the new credential')
    t.equal(credentials[0]?.isResidentCredential, true, 'a discoverable one')
    t.equal(credentials[0]?.rpId, 'localhost')
    const stored = await ctx.repos.passkeys.listForUser(userId)
    t.equal(stored.length, 1)
    t.equal(stored[0]?.credentialId, credentials[0]?.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))

    // Signed out (the browser's cookies gone), then "Sign in with a passkey": no username typed.
    await page.context().clearCookies()
    const second = codeRequest(client, { scope: 'openid profile' })
    await page.goto(`${ctx.issuer}${second.url}`)
    await axeClean(t, page, 'the login page with its passkey button')
    await page.locator('#passkey-sign-in').click()
    await page.locator('form[action="/authorize/consent"]').waitFor()
    const back = sentBackToClient(page)
    await page.locator('form[action="/authorize/consent"] button[value="allow"]').click()
    const params = await back
    t.equal(params.get('state'), 'xyz-state')
    const code = params.get('code') as string
    const tokens = await fetch(`${ctx.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirectUri,
        code_verifier: second.pkce.verifier,
        client_id: client.client_id,
        client_secret: client.client_secret as string,
      }),
    })
    t.equal(tokens.status, 200)
    const body = (await tokens.json()) as { id_token: string; access_token: string }
    const idToken = decodeJwt(body.id_token)
    t.equal(idToken.sub, userId, 'the passkey\'s user')
    t.same(idToken.amr, ['hwk'], 'signed in with a passkey alone')
    t.equal(idToken.acr, 'urn:latchkey:acr:mfa', 'which counts as two factors')
    const accessToken = decodeJwt(body.access_token)
    t.same(accessToken.amr, ['hwk'])
    t.equal(accessToken.acr, 'urn:latchkey:acr:mfa')
    t.ok((await ctx.repos.passkeys.listForUser(userId))[0]?.lastUsedAt, 'the use was recorded')
  })

  t.test('without script the passkey button stays hidden, and the password works as before', async (t) => {
    const chromium = await launchChromium(t)
    const ctx = await startLatchkey(t, { issuerHost: 'localhost' })
    await createUser(ctx, 'alice')
    const client = await createClient(ctx, { name: 'Photo Print Shop', redirectUris: [`${CLIENT_ORIGIN}/callback`], scope: 'openid profile' })
    const page = await chromium.newPage({ javaScriptEnabled: false })
    await routeClient(page.context(), ctx.issuer)
    await page.goto(`${ctx.issuer}${codeRequest(client, { scope: 'openid profile' }).url}`)
    t.equal(await page.locator('#passkey-sign-in').isVisible(), false)
    await signIn(page, 'alice')
    await page.locator('form[action="/authorize/consent"]').waitFor()
    t.pass('signed in with the password')
  })
}
