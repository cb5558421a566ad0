import type { BrowserContext, Page } from 'playwright-core'
import type { Test } from 'tap'
import type { TestApp } from './app.js'
import { appCode as totpCode } from './mfa.js'
import { codeRequest, createClient, createUser, PASSWORD } from './oauth.js'
import { startLatchkey } from './server.js'

/** The client's redirect URI. Chromium never reaches it: routeClient answers in its place. */
export const CLIENT_ORIGIN = 'https://photos.example.com'

export interface PagesServer {
  ctx: TestApp & { issuer: string }
  client: { client_id: string; redirectUri: string }
  /** A public client registered for the device grant (RFC 8628). */
  deviceClient: { client_id: string }
  /** A client that registered itself (RFC 7591, REGISTRATION=open). */
  agentClient: { client_id: string; redirectUri: string }
  username: string
  /** A user with an authenticator app: its secret and the recovery codes not used yet. */
  mfaUser: { username: string; secret: string; recoveryCodes: string[] }
  /** The /authorize URL of a fresh code request, absolute; `extra` adds or overrides parameters. */
  authorizeUrl(extra?: Record<string, string | undefined>): string
}

/**
 * A listening latchkey with one user, a web app registered for code + refresh tokens with every
 * user scope, and the API it calls registered by name, as a real deployment would have.
 */
export async function startPagesServer(t: Test, env: Record<string, string> = {}): Promise<PagesServer> {
  const ctx = await startLatchkey(t, { env: { REGISTRATION: 'open', ...env } })
  const { username } = await createUser(ctx, 'alice')
  const carol = await createUser(ctx, 'carol')
  const enrolled = await ctx.secondFactors?.addConfirmedTotp(carol.id, carol.username)
  if (!enrolled) throw new Error('could not enrol carol')
  const mfaUser = { username: carol.username, secret: enrolled.secret, recoveryCodes: [...enrolled.recoveryCodes] }
  await createClient(ctx, { name: 'Photos API', audience: ctx.config.defaultAudience, redirectUris: [] })
  const client = await createClient(ctx, {
    name: 'Photo Print Shop',
    redirectUris: [`${CLIENT_ORIGIN}/callback`],
    postLogoutRedirectUris: [`${CLIENT_ORIGIN}/signed-out`],
    scope: 'openid profile email offline_access',
  })
  const deviceClient = await createClient(ctx, {
    name: 'Living-room TV',
    isPublic: true,
    redirectUris: [],
    grants: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    scope: 'openid profile offline_access',
  })
  const agentRedirectUri = 'https://agent.example.org/callback'
  const registered = await fetch(`${ctx.issuer}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Research Agent', redirect_uris: [agentRedirectUri], post_logout_redirect_uris: ['https://agent.example.org/signed-out'], scope: 'openid profile' }),
  })
  if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${await registered.text()}`)
  const agentClient = { client_id: ((await registered.json()) as { client_id: string }).client_id, redirectUri: agentRedirectUri }
  return {
    ctx,
    client,
    deviceClient,
    agentClient,
    username,
    mfaUser,
    authorizeUrl: (extra = {}) => `${ctx.issuer}${codeRequest(client, { scope: 'openid profile email offline_access', ...extra }).url}`,
  }
}

/**
 * Answers every request to the client in Chromium's place, and refuses any other host but
 * latchkey's: nothing leaves the machine. Every request is routed, so that the redirects
 * latchkey answers with are seen too.
 */
export async function routeClient(context: BrowserContext, issuer: string): Promise<void> {
  await context.route('**/*', (route) => {
    const origin = new URL(route.request().url()).origin
    if (origin === issuer) return route.continue()
    if (origin === CLIENT_ORIGIN) {
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Photo Print Shop</title><h1>Back at the app</h1>' })
    }
    return route.abort('blockedbyclient')
  })
}

/**
 * The query of the client URL the browser is sent back to. Call it before the step that
 * redirects: Chromium routes a redirect's target to no handler (only the first URL), so it is
 * caught as the request the browser makes, answered or not.
 */
export function sentBackToClient(page: Page): Promise<URLSearchParams> {
  return page.waitForRequest((request) => new URL(request.url()).origin === CLIENT_ORIGIN).then((request) => new URL(request.url()).searchParams)
}

/** The login form filled and sent with the mouse-free path a script takes. */
export async function signIn(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.getByLabel(/Username|Benutzername/).fill(username)
  await page.getByLabel(/Password|Passwort/).fill(password)
  await page.locator('form[action="/authorize/login"] button[type="submit"]').click()
  await page.waitForLoadState()
}

/** Every page latchkey shows, in the order a person meets them; `visit` runs on each. */
export const PAGE_NAMES = [
  'sign-in',
  'sign-in-error',
  'consent',
  'error',
  'logout',
  'signed-out',
  'device',
  'device-error',
  'device-consent',
  'device-done',
  'consent-self-registered',
  'logout-self-registered',
  'second-factor',
  'second-factor-error',
  'recovery-code-used',
  'account-sign-in',
  'account-security',
  'enrol',
  'recovery-codes',
  'account-security-removed',
] as const
export type PageName = (typeof PAGE_NAMES)[number]

export async function visitEveryPage(page: Page, server: PagesServer, visit: (name: PageName) => Promise<void>): Promise<void> {
  await page.goto(server.authorizeUrl())
  await visit('sign-in')
  await signIn(page, server.username, 'not the password')
  await visit('sign-in-error')
  await signIn(page, server.username)
  await page.locator('form[action="/authorize/consent"]').waitFor()
  await visit('consent')
  await page.goto(server.authorizeUrl({ redirect_uri: 'https://attacker.example.net/callback' }))
  await visit('error')
  await page.goto(`${server.ctx.issuer}/logout`)
  await visit('logout')
  await page.locator('form[action="/logout/confirm"] button').click()
  await page.waitForLoadState()
  await visit('signed-out')
  // RFC 8628: a TV asks for a code; the person enters it, signs in and allows.
  const started = await fetch(`${server.ctx.issuer}/device_authorization`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: server.deviceClient.client_id }),
  })
  const { user_code: userCode } = (await started.json()) as { user_code: string }
  await page.goto(`${server.ctx.issuer}/device`)
  await visit('device')
  await page.getByLabel(/^Code$/).fill('BCDF-GHJK')
  await page.locator('form[action="/device"] button[type="submit"]').click()
  await page.waitForLoadState()
  await visit('device-error')
  await page.getByLabel(/^Code$/).fill(userCode)
  await page.locator('form[action="/device"] button[type="submit"]').click()
  await page.waitForLoadState()
  await signIn(page, server.username)
  await page.locator('form[action="/authorize/consent"]').waitFor()
  await visit('device-consent')
  await page.locator('form[action="/authorize/consent"] button[value="allow"]').click()
  await page.waitForLoadState()
  await visit('device-done')
  // RFC 7591 §5: an app that registered itself; the consent page says so, every time.
  await page.goto(`${server.ctx.issuer}${codeRequest(server.agentClient, { scope: 'openid profile' }).url}`)
  await page.locator('form[action="/authorize/consent"]').waitFor()
  await visit('consent-self-registered')
  // …and signing out on its behalf always asks, naming where it returns.
  const logout = new URLSearchParams({ client_id: server.agentClient.client_id, post_logout_redirect_uri: 'https://agent.example.org/signed-out' })
  await page.goto(`${server.ctx.issuer}/logout?${logout.toString()}`)
  await page.locator('form[action="/logout/confirm"]').waitFor()
  await visit('logout-self-registered')
  // Two-step sign-in: a user with an authenticator app; a wrong code; a recovery code instead.
  await page.goto(server.authorizeUrl({ prompt: 'login' }))
  await signIn(page, server.mfaUser.username)
  const codeForm = page.locator('form[action="/authorize/second-factor"]').first()
  await codeForm.waitFor()
  await visit('second-factor')
  const right = totpCode(server.mfaUser.secret, server.ctx.clock.now())
  await page.getByLabel(/Code from your authenticator app|Code aus Ihrer Authenticator-App/).fill(right === '000000' ? '111111' : '000000')
  await codeForm.locator('button[type="submit"]').click()
  await page.waitForLoadState()
  await visit('second-factor-error')
  await page.locator('details.recovery summary').click()
  await page.getByLabel(/^(Recovery code|Wiederherstellungscode)$/).fill(server.mfaUser.recoveryCodes.shift() as string)
  await page.locator('details.recovery button[type="submit"]').click()
  await page.waitForLoadState()
  await visit('recovery-code-used')
  // /account/security: signed out, it asks to sign in; then set up an app, and remove it again.
  await page.context().clearCookies()
  await page.goto(`${server.ctx.issuer}/account/security`)
  await visit('account-sign-in')
  await page.getByLabel(/Username|Benutzername/).fill(server.username)
  await page.getByLabel(/Password|Passwort/).fill(PASSWORD)
  await page.locator('form[action="/account/login"] button[type="submit"]').click()
  await page.waitForLoadState()
  await page.locator('form[action="/account/totp/begin"]').waitFor()
  await visit('account-security')
  await page.locator('form[action="/account/totp/begin"] button').click()
  await page.waitForLoadState()
  await visit('enrol')
  const secret = ((await page.locator('.secret code').textContent()) ?? '').replace(/\s/g, '')
  await page.getByLabel(/Code from the app|Code aus der App/).fill(totpCode(secret, server.ctx.clock.now()))
  await page.locator('form[action="/account/totp/confirm"] button').click()
  await page.waitForLoadState()
  await visit('recovery-codes')
  await page.locator('form[action="/account/security"] button').click()
  await page.waitForLoadState()
  await page.locator('form[action="/account/totp/remove"] button').click()
  await page.waitForLoadState()
  await visit('account-security-removed')
}
