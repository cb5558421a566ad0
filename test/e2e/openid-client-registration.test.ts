import t from 'tap'
import * as client from 'openid-client'
import { addClient } from '../../src/admin/clients.js'
import { addUser } from '../../src/admin/users.js'
import { NO_AUDIT } from '../../src/audit.js'
import { systemClock } from '../../src/clock.js'
import { hiddenInputs } from '../helpers/browser.js'
import { FetchBrowser, isRedirect } from '../helpers/fetch-browser.js'
import { testPasswords } from '../helpers/passwords.js'
import { initialToken } from '../helpers/registration.js'
import { startLatchkey } from '../helpers/server.js'

// openid-client 6's dynamicClientRegistration (RFC 7591) against a listening latchkey: an agent
// registers itself, the user sees the consent page (every time), and the agent gets tokens.
// On SQLite only: registration and its storage are tested on PostgreSQL too, in
// test/http/registration*.test.ts and test/storage, and the token flow in openid-client.test.ts.

const PASSWORD = 'a long enough password'
const REDIRECT = 'http://127.0.0.1:49152/cb'
const ORDERS = 'https://orders.example.com/api'
// Plain http is allowed on loopback only; openid-client refuses it unless told.
const INSECURE = { execute: [client.allowInsecureRequests] }

/** Signs in and allows; answers the callback URL and whether the consent page was shown. */
async function authorize(browser: FetchBrowser, url: URL): Promise<{ callback: URL; consent: string | undefined }> {
  let res = await browser.follow(await browser.get(url))
  let consent: string | undefined
  for (let step = 0; step < 3 && res.status === 200; step++) {
    const html = await res.text()
    if (html.includes('name="password"')) {
      res = await browser.post('/authorize/login', { ...hiddenInputs(html, '/authorize/login'), username: 'dana', password: PASSWORD })
    } else {
      consent = html
      res = await browser.post('/authorize/consent', { ...hiddenInputs(html, '/authorize/consent'), decision: 'allow' })
    }
    res = await browser.follow(res)
  }
  if (!isRedirect(res)) throw new Error(`expected a redirect, got ${res.status}`)
  return { callback: new URL(res.headers.get('location') as string), consent }
}

t.test('REGISTRATION=open: a public client registers with openid-client, signs the user in, refreshes, and deletes itself', async (t) => {
  const server = await startLatchkey(t, { clock: systemClock, env: { REGISTRATION: 'open' } })
  await addUser({ users: server.repos.users, passwords: testPasswords, clock: systemClock, audit: NO_AUDIT }, { username: 'dana', password: PASSWORD })
  const config = await client.dynamicClientRegistration(
    new URL(server.issuer),
    { client_name: 'Agent', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' },
    client.None(),
    INSECURE,
  )
  const registered = config.clientMetadata()
  t.match(registered, { client_id: /^lk_/, token_endpoint_auth_method: 'none', registration_client_uri: `${server.issuer}/register/${registered.client_id}` })
  t.notOk(registered.client_secret)

  const browser = new FetchBrowser(server.issuer)
  for (const round of [1, 2]) {
    const verifier = client.randomPKCECodeVerifier()
    const nonce = client.randomNonce()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
    })
    const { callback, consent } = await authorize(browser, url)
    t.match(consent, /registered itself/, `round ${round}: the consent page, with its notice`)
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true })
    t.equal(tokens.claims()?.aud, registered.client_id)
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    t.type(refreshed.access_token, 'string')
  }

  // RFC 7592 with the registration access token the library received.
  const uri = registered.registration_client_uri as string
  const token = registered.registration_access_token as string
  t.equal((await fetch(uri, { method: 'DELETE' })).status, 401)
  t.equal((await fetch(uri, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, 204)
  t.equal(await server.repos.clients.findById(registered.client_id as string), undefined)
})

t.test('REGISTRATION=token: openid-client sends the initial access token; the confidential client reaches a registered API', async (t) => {
  const server = await startLatchkey(t, { clock: systemClock, env: { REGISTRATION: 'token' } })
  await addClient({ clients: server.repos.clients, scopes: server.repos.scopes, clock: systemClock, audit: NO_AUDIT }, { name: 'Orders API', audience: ORDERS, redirectUris: [] })
  const metadata = { client_name: 'Reporter', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: '' }
  const refused = client.dynamicClientRegistration(new URL(server.issuer), metadata, undefined, INSECURE)
  await t.rejects(refused, 'no initial access token')
  const config = await client.dynamicClientRegistration(new URL(server.issuer), metadata, undefined, { ...INSECURE, initialAccessToken: await initialToken(server) })
  const registered = config.clientMetadata()
  t.type(registered.client_secret, 'string')
  const withBasic = new client.Configuration(config.serverMetadata(), registered.client_id as string, registered.client_secret as string, client.ClientSecretBasic(registered.client_secret as string))
  client.allowInsecureRequests(withBasic)
  const tokens = await client.clientCredentialsGrant(withBasic, { resource: ORDERS })
  t.type(tokens.access_token, 'string')
  const other = await client.clientCredentialsGrant(withBasic, { resource: 'https://payments.example.com' }).catch((error: unknown) => error)
  t.equal((other as client.ResponseBodyError).error, 'invalid_target', 'an API not registered here')
})
