import { join } from 'node:path'
import t from 'tap'
import { demoClientFile, setUpDemo, writeDemoClientFile } from '../../src/admin/demo.js'
import { NO_AUDIT } from '../../src/audit.js'
import { systemClock } from '../../src/clock.js'
import { inTransaction } from '../../src/storage/repositories.js'
import { chromiumMissing, launchChromium, startProcess } from '../helpers/example-app.js'
import { testPasswords } from '../helpers/passwords.js'
import { freePort, startLatchkey } from '../helpers/server.js'

// The whole first run in a real browser: latchkey, the demo API and the example app as
// listening processes, set up as `latchkey demo` does, then a person's clicks.

const missing = chromiumMissing()
if (missing !== undefined && process.env.CI) {
  t.fail(`${missing}; CI must install it`)
} else if (missing !== undefined) {
  t.plan(0, missing)
} else {
  t.test('the example app signs in, calls the API, refreshes and signs out', async (t) => {
    const latchkey = await startLatchkey(t, { clock: systemClock })
    const appPort = await freePort()
    const apiPort = await freePort()
    const appUrl = `http://localhost:${appPort}`
    const demo = await setUpDemo(
      { transaction: inTransaction(latchkey.store), passwords: testPasswords, clock: systemClock, audit: NO_AUDIT },
      { issuer: latchkey.issuer, audience: latchkey.config.defaultAudience, appOrigin: appUrl },
    )
    const clientFile = join(t.testdir(), '.demo-client.json')
    writeDemoClientFile(clientFile, demoClientFile(latchkey.issuer, latchkey.config.defaultAudience, demo))

    await startProcess(t, 'src/resource-server/demo.ts', { RS_PORT: String(apiPort), ISSUER: latchkey.issuer }, /Server listening/)
    const app = await startProcess(t, 'examples/app/server.ts', { CLIENT_FILE: clientFile, API_URL: `http://127.0.0.1:${apiPort}` }, /example app: http/)

    const browser = await launchChromium(t)
    const page = await browser.newPage()
    await page.goto(appUrl)
    const appSession = async () => (await page.context().cookies(appUrl)).find((c) => c.name === 'example_session')?.value
    const anonymous = await appSession()
    t.ok(anonymous, 'the app gave the browser a session before sign-in')
    await page.click('#sign-in')

    // At latchkey: sign in as the demo user, then allow.
    t.equal(new URL(page.url()).origin, latchkey.issuer, 'sent to latchkey')
    await page.fill('input[name="username"]', demo.user.username)
    await page.fill('input[name="password"]', demo.user.password)
    await page.click('form[action="/authorize/login"] button[type="submit"]')
    await page.click('button[name="decision"][value="allow"]')

    // Back at the app, signed in: the ID token's claims and /userinfo.
    await page.waitForSelector('#id-token-claims')
    t.equal(new URL(page.url()).origin, appUrl, 'back at the app')
    const signedIn = await appSession()
    t.not(signedIn, anonymous, 'signing in renews the session id (no session fixation)')
    const claims = JSON.parse(await page.textContent('#id-token-claims') ?? '') as Record<string, unknown>
    t.match(claims, { iss: latchkey.issuer, sub: demo.user.id, aud: demo.clients.example_app.client_id, nonce: String })
    const userinfo = JSON.parse(await page.textContent('#userinfo') ?? '') as Record<string, unknown>
    t.match(userinfo, { sub: demo.user.id, preferred_username: 'demo', email: 'demo@example.com' })
    const before = JSON.parse(await page.textContent('#access-token-claims') ?? '') as { jti: string; aud: unknown }
    t.match(before, { aud: latchkey.config.defaultAudience, scope: /source:w/ })

    // The demo API with the access token.
    await page.click('#call-me')
    t.match(await page.textContent('#api-result'), new RegExp(`GET /api/me → 200\\n.*"sub":"${demo.user.id}"`))
    await page.click('#create-source')
    t.match(await page.textContent('#api-result'), new RegExp(`POST /api/sources → 201\\n.*"created_by":"${demo.user.id}"`))

    // A refresh gives a new access token.
    await page.click('#refresh')
    t.equal(await page.textContent('#notice'), 'Tokens refreshed.')
    const after = JSON.parse(await page.textContent('#access-token-claims') ?? '') as { jti: string }
    t.not(after.jti, before.jti, 'a new access token')
    await page.click('#call-me')
    t.match(await page.textContent('#api-result'), 'GET /api/me → 200')

    // Sign out: through latchkey's /logout and back to the app.
    await page.click('#sign-out')
    await page.waitForSelector('#signed-out')
    t.equal(new URL(page.url()).origin, appUrl)
    t.not(await appSession(), signedIn, 'signing out renews it again')
    const families = await latchkey.store.db.selectFrom('refresh_token_families').select(['revoked_at']).where('user_id', '=', demo.user.id).execute()
    t.ok(families.length > 0 && families.every((f) => f.revoked_at !== null), 'the app revoked its refresh token at sign-out')
    t.match(await page.textContent('#signed-out'), 'signed out')

    // latchkey's session ended too: signing in again asks for the password.
    await page.click('#sign-in')
    t.ok(await page.isVisible('input[name="password"]'), 'latchkey asks to sign in again')
    t.notMatch(app.output(), demo.clients.example_app.client_secret, 'the app never logs its secret')
  })
}
