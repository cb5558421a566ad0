import * as client from 'openid-client'
import t, { type Test } from 'tap'
import { addClient } from '../../src/admin/clients.js'
import { addUser } from '../../src/admin/users.js'
import { NO_AUDIT } from '../../src/audit.js'
import { systemClock } from '../../src/clock.js'
import { hiddenInputs } from '../helpers/browser.js'
import { FetchBrowser } from '../helpers/fetch-browser.js'
import { testPasswords } from '../helpers/passwords.js'
import { startLatchkey } from '../helpers/server.js'

// openid-client 6 as a device (a TV, a command-line tool) would use it, against a listening
// latchkey; the person approving on another device is played by HTTP requests. The library
// waits the interval (5 s) before each poll, so each case takes that long. On SQLite only: the
// device flow and its storage are tested on PostgreSQL too, in test/http/device-code-grant.test.ts,
// device-page.test.ts and test/storage/device-authorizations.test.ts.

const PASSWORD = 'a long enough password'
const INSECURE = { execute: [client.allowInsecureRequests] }

async function setup(t: Test) {
  const server = await startLatchkey(t, { clock: systemClock })
  const { repos } = server
  const user = await addUser({ users: repos.users, passwords: testPasswords, clock: systemClock, audit: NO_AUDIT }, { username: 'dana', password: PASSWORD })
  const tv = await addClient(
    { clients: repos.clients, scopes: repos.scopes, clock: systemClock, audit: NO_AUDIT },
    { name: 'Living-room TV', isPublic: true, grants: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], scope: 'openid profile offline_access' },
  )
  const config = await client.discovery(new URL(server.issuer), tv.client_id, undefined, client.None(), INSECURE)
  return { ...server, user, tv, config }
}

/** The person on their phone: opens verification_uri_complete, submits the code, signs in, decides. */
async function personDecides(issuer: string, verificationUriComplete: string, decision: 'allow' | 'deny'): Promise<string> {
  const browser = new FetchBrowser(issuer)
  const form = await (await browser.get(new URL(verificationUriComplete))).text()
  const login = await (await browser.post('/device', { ...hiddenInputs(form, '/device'), user_code: /name="user_code"[^>]*value="([^"]*)"/.exec(form)?.[1] ?? '' })).text()
  const consent = await (await browser.post('/authorize/login', { ...hiddenInputs(login, '/authorize/login'), username: 'dana', password: PASSWORD })).text()
  return (await browser.post('/authorize/consent', { ...hiddenInputs(consent, '/authorize/consent'), decision })).text()
}

t.test('openid-client: device authorization, polling, tokens with a validated ID token, refresh', async (t) => {
  const { issuer, user, tv, config } = await setup(t)
  t.equal(config.serverMetadata().device_authorization_endpoint, `${issuer}/device_authorization`)
  const started = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
  t.match(started.user_code, /^[A-Z]{4}-[A-Z]{4}$/)
  t.equal(started.verification_uri, `${issuer}/device`)
  const polling = client.pollDeviceAuthorizationGrant(config, started)
  const done = await personDecides(issuer, started.verification_uri_complete as string, 'allow')
  t.match(done, 'You may return to your device')
  const tokens = await polling
  t.equal(tokens.scope, 'openid profile offline_access')
  const claims = tokens.claims()
  t.equal(claims?.sub, user.id)
  t.equal(claims?.aud, tv.client_id)
  t.type(claims?.auth_time, 'number')
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
  t.equal(refreshed.claims()?.auth_time, claims?.auth_time)
})

t.test('openid-client: a denial ends the polling with access_denied', async (t) => {
  const { issuer, config } = await setup(t)
  const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' })
  const polling = client.pollDeviceAuthorizationGrant(config, started).then(
    () => undefined,
    (error: unknown) => error,
  )
  t.match(await personDecides(issuer, started.verification_uri_complete as string, 'deny'), 'Access denied')
  const error = await polling
  t.type(error, client.ResponseBodyError)
  t.equal((error as client.ResponseBodyError).error, 'access_denied')
})
