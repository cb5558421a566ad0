import t, { type Test } from 'tap'
import { eachDialect } from '../helpers/db.js'
import { startLatchkey } from '../helpers/server.js'
import * as client from 'openid-client'
import { addClient } from '../../src/admin/clients.js'
import { addScope } from '../../src/admin/scopes.js'
import { addUser } from '../../src/admin/users.js'
import { systemClock } from '../../src/clock.js'
import { hiddenInputs } from '../helpers/browser.js'
import { FetchBrowser, isRedirect } from '../helpers/fetch-browser.js'
import { testPasswords } from '../helpers/passwords.js'
import { NO_AUDIT } from '../../src/audit.js'

// openid-client 6 (panva, on oauth4webapi and jose) as a relying party would use it, against a
// real listening latchkey: nothing here reaches into latchkey's internals after set-up.

const PASSWORD = 'a long enough password'
const WEB_REDIRECT = 'http://127.0.0.1:8765/cb'
const WEB_SIGNED_OUT = 'http://127.0.0.1:8765/signed-out'
const NATIVE_REGISTERED = 'http://127.0.0.1:8080/cb'
// RFC 8252 §7.3: a native app's loopback redirect may use any port.
const NATIVE_REDIRECT = 'http://127.0.0.1:49152/cb'
// Plain http is allowed on loopback only; openid-client refuses it unless told.
const INSECURE = { execute: [client.allowInsecureRequests] }


async function setup(t: Test) {
  const server = await startLatchkey(t, { clock: systemClock })
  const { repos } = server
  const user = await addUser(
    { users: repos.users, passwords: testPasswords, clock: systemClock, audit: NO_AUDIT },
    { username: 'dana', password: PASSWORD, email: 'dana@example.com', name: 'Dana Scully' },
  )
  const clientDeps = { clients: repos.clients, scopes: repos.scopes, clock: systemClock, audit: NO_AUDIT }
  return { ...server, user, clientDeps }
}

function isLoginPage(html: string): boolean {
  return html.includes('action="/authorize/login"') && html.includes('name="password"')
}

function isConsentPage(html: string): boolean {
  return html.includes('action="/authorize/consent"')
}

/**
 * Plays the user in the browser from the authorization URL openid-client built to the redirect
 * back to the client; returns that callback URL and which pages were shown on the way.
 */
async function userAuthorizes(browser: FetchBrowser, authorizationUrl: URL, redirectUri: string) {
  const pages: Array<'login' | 'consent'> = []
  let res = await browser.follow(await browser.get(authorizationUrl))
  for (let step = 0; step < 3 && res.status === 200; step++) {
    const html = await res.text()
    if (isLoginPage(html)) {
      pages.push('login')
      res = await browser.post('/authorize/login', { ...hiddenInputs(html, '/authorize/login'), username: 'dana', password: PASSWORD })
    } else if (isConsentPage(html)) {
      pages.push('consent')
      res = await browser.post('/authorize/consent', { ...hiddenInputs(html, '/authorize/consent'), decision: 'allow' })
    } else {
      throw new Error(`unexpected page: ${html}`)
    }
    res = await browser.follow(res)
  }
  if (!isRedirect(res)) throw new Error(`expected a redirect to the client, got ${res.status}: ${await res.text()}`)
  const callback = new URL(res.headers.get('location') as string)
  if (`${callback.origin}${callback.pathname}` !== redirectUri) throw new Error(`redirected to ${callback.href}, not ${redirectUri}`)
  return { status: res.status, callback, pages }
}

/** A fresh authorization request as openid-client builds it, with the checks to redeem it by. */
async function authorizationRequest(config: client.Configuration, redirectUri: string, scope: string) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier()
  const expectedNonce = client.randomNonce()
  const expectedState = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    nonce: expectedNonce,
    state: expectedState,
  })
  return { url, checks: { pkceCodeVerifier, expectedNonce, expectedState, idTokenExpected: true } }
}

/** The OAuth error a rejected call carries: openid-client throws ResponseBodyError for them. */
async function oauthError(t: Test, call: Promise<unknown>, message: string): Promise<client.ResponseBodyError | undefined> {
  try {
    await call
  } catch (error) {
    t.type(error, client.ResponseBodyError, `${message}: a ResponseBodyError`)
    return error instanceof client.ResponseBodyError ? error : undefined
  }
  t.fail(`${message}: expected an error response`)
  return undefined
}

eachDialect(t, (t) => {
  t.test('a confidential web client: code flow, ID token, userinfo, refresh, introspection, revocation and logout', async (t) => {
    const { issuer, user, clientDeps } = await setup(t)
    const web = await addClient(clientDeps, {
      name: 'Web App',
      redirectUris: [WEB_REDIRECT],
      postLogoutRedirectUris: [WEB_SIGNED_OUT],
    })
    // A string secret selects client_secret_post, openid-client's default.
    const config = await client.discovery(new URL(issuer), web.client_id, web.client_secret, undefined, INSECURE)
    const browser = new FetchBrowser(issuer)

    t.test('discovery: openid-client accepts the metadata and its issuer', async (t) => {
      const metadata = config.serverMetadata()
      t.equal(metadata.issuer, issuer)
      t.ok(metadata.supportsPKCE(), 'S256 advertised')
      t.equal(metadata.authorization_response_iss_parameter_supported, true)
      t.equal(metadata.end_session_endpoint, `${issuer}/logout`)
      t.equal(metadata.userinfo_endpoint, `${issuer}/userinfo`)
    })

    let first: Awaited<ReturnType<typeof client.authorizationCodeGrant>> | undefined
    t.test('code flow with PKCE: the library validates the ID token and the RFC 9207 iss', async (t) => {
      const request = await authorizationRequest(config, WEB_REDIRECT, 'openid profile email offline_access')
      const started = Date.now()
      const { status, callback, pages } = await userAuthorizes(browser, request.url, WEB_REDIRECT)
      t.same(pages, ['login', 'consent'])
      t.equal(status, 303)
      t.equal(callback.searchParams.get('iss'), issuer)
      // The metadata promises iss (RFC 9207 §3), so the library refuses a response without it:
      // proof that it checks the one latchkey sent. Nothing is sent to /token for these.
      const withoutIss = new URL(callback)
      withoutIss.searchParams.delete('iss')
      await t.rejects(client.authorizationCodeGrant(config, withoutIss, request.checks), 'a response without iss is refused')
      const foreignIss = new URL(callback)
      foreignIss.searchParams.set('iss', 'https://attacker.example')
      await t.rejects(client.authorizationCodeGrant(config, foreignIss, request.checks), 'a response from another issuer is refused')

      first = await client.authorizationCodeGrant(config, callback, request.checks)
      t.equal(first.token_type.toLowerCase(), 'bearer')
      t.equal(first.scope, 'openid profile email offline_access')
      t.type(first.expiresIn(), 'number')
      t.type(first.refresh_token, 'string')
      const claims = first.claims()
      t.ok(claims, 'an ID token')
      t.equal(claims?.iss, issuer)
      t.equal(claims?.aud, web.client_id)
      t.equal(claims?.sub, user.id)
      t.equal(claims?.nonce, request.checks.expectedNonce)
      const authTime = claims?.auth_time as number
      t.type(authTime, 'number')
      t.ok(authTime >= Math.floor(started / 1000) - 1 && authTime <= Math.ceil(Date.now() / 1000), 'auth_time is the sign-in just now')
    })

    t.test('userinfo returns the consented claims for the ID token subject', async (t) => {
      if (!first) return t.fail('no tokens')
      const info = await client.fetchUserInfo(config, first.access_token, user.id)
      t.same(info, {
        sub: user.id,
        name: 'Dana Scully',
        preferred_username: 'dana',
        email: 'dana@example.com',
        email_verified: false,
      })
    })

    t.test('introspection: the token is active for its own client', async (t) => {
      if (!first) return t.fail('no tokens')
      const introspection = await client.tokenIntrospection(config, first.access_token)
      t.match(introspection, { active: true, client_id: web.client_id, sub: user.id, iss: issuer, scope: 'openid profile email offline_access' })
    })

    t.test('refresh rotates the token, keeps auth_time, and a replayed refresh token fails and revokes the family', async (t) => {
      if (!first) return t.fail('no tokens')
      const original = first.claims()
      const refreshToken = first.refresh_token as string
      const refreshed = await client.refreshTokenGrant(config, refreshToken)
      t.type(refreshed.refresh_token, 'string')
      t.not(refreshed.refresh_token, refreshToken, 'RFC 9700 §4.14.2: rotated')
      t.not(refreshed.access_token, first.access_token)
      const claims = refreshed.claims()
      t.ok(claims, 'a new ID token, validated by the library')
      t.equal(claims?.sub, original?.sub)
      t.equal(claims?.aud, web.client_id)
      // OIDC Core §12.2: auth_time is the original authentication's; no nonce on refresh.
      t.equal(claims?.auth_time, original?.auth_time)
      t.equal(claims?.nonce, undefined)

      const replay = await oauthError(t, client.refreshTokenGrant(config, refreshToken), 'the rotated-out refresh token')
      t.equal(replay?.error, 'invalid_grant')
      t.equal(replay?.status, 400)
      // The replay revoked the whole family: the refresh token it was rotated into, and its access token.
      const successor = await oauthError(t, client.refreshTokenGrant(config, refreshed.refresh_token as string), 'the successor refresh token')
      t.equal(successor?.error, 'invalid_grant')
      t.match(await client.tokenIntrospection(config, refreshed.access_token), { active: false })
    })

    let second: Awaited<ReturnType<typeof client.authorizationCodeGrant>> | undefined
    t.test('a second authorization rides the login session and the remembered consent', async (t) => {
      const request = await authorizationRequest(config, WEB_REDIRECT, 'openid profile email offline_access')
      const { callback, pages } = await userAuthorizes(browser, request.url, WEB_REDIRECT)
      t.same(pages, [], 'no login page, no consent page')
      second = await client.authorizationCodeGrant(config, callback, request.checks)
      t.equal(second.claims()?.sub, user.id)
      t.equal(second.claims()?.auth_time, first?.claims()?.auth_time, 'the same authentication')
    })

    t.test('revoking the refresh token deactivates it and its access token', async (t) => {
      if (!second) return t.fail('no tokens')
      const refreshToken = second.refresh_token as string
      t.match(await client.tokenIntrospection(config, second.access_token), { active: true })
      t.match(await client.tokenIntrospection(config, refreshToken, { token_type_hint: 'refresh_token' }), { active: true, token_type: 'refresh_token' })
      await client.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' })
      t.match(await client.tokenIntrospection(config, second.access_token), { active: false })
      t.match(await client.tokenIntrospection(config, refreshToken), { active: false })
      const refresh = await oauthError(t, client.refreshTokenGrant(config, refreshToken), 'the revoked refresh token')
      t.equal(refresh?.error, 'invalid_grant')
      try {
        await client.fetchUserInfo(config, second.access_token, user.id)
        t.fail('userinfo accepted a revoked access token')
      } catch (error) {
        t.type(error, client.WWWAuthenticateChallengeError)
        const challenge = error instanceof client.WWWAuthenticateChallengeError ? error.cause[0] : undefined
        t.equal(challenge?.scheme, 'bearer')
        t.equal(challenge?.parameters.error, 'invalid_token')
      }
    })

    t.test('RP-initiated logout with id_token_hint ends the session and returns to the client', async (t) => {
      if (!second?.id_token) return t.fail('no ID token')
      t.ok(browser.cookies.has('lk_session'), 'signed in before')
      const state = client.randomState()
      const endSession = client.buildEndSessionUrl(config, {
        id_token_hint: second.id_token,
        post_logout_redirect_uri: WEB_SIGNED_OUT,
        state,
      })
      t.equal(endSession.origin + endSession.pathname, `${issuer}/logout`)
      const res = await browser.follow(await browser.get(endSession))
      t.ok([302, 303].includes(res.status), `a redirect (${res.status})`)
      const back = new URL(res.headers.get('location') as string)
      t.equal(`${back.origin}${back.pathname}`, WEB_SIGNED_OUT)
      t.equal(back.searchParams.get('state'), state)
      t.notOk(browser.cookies.has('lk_session'), 'session cookie cleared')

      const request = await authorizationRequest(config, WEB_REDIRECT, 'openid')
      const again = await browser.follow(await browser.get(request.url))
      t.equal(again.status, 200)
      t.ok(isLoginPage(await again.text()), 'the login page again: the session ended')
    })
  })

  t.test('a service: client_credentials with client_secret_basic', async (t) => {
    const { issuer, repos, clientDeps } = await setup(t)
    await addScope({ scopes: repos.scopes }, { name: 'reports:read', description: 'Read reports' })
    const service = await addClient(clientDeps, { name: 'Report Job', grants: ['client_credentials'], scope: 'reports:read' })
    const config = await client.discovery(
      new URL(issuer),
      service.client_id,
      undefined,
      client.ClientSecretBasic(service.client_secret as string),
      INSECURE,
    )

    const tokens = await client.clientCredentialsGrant(config, { scope: 'reports:read' })
    t.equal(tokens.token_type.toLowerCase(), 'bearer')
    t.equal(tokens.scope, 'reports:read')
    t.type(tokens.expiresIn(), 'number')
    t.equal(tokens.refresh_token, undefined, 'never a refresh token for client credentials')
    t.equal(tokens.id_token, undefined)
    t.match(await client.tokenIntrospection(config, tokens.access_token), {
      active: true,
      client_id: service.client_id,
      sub: service.client_id,
      scope: 'reports:read',
    })

    const userScope = await oauthError(t, client.clientCredentialsGrant(config, { scope: 'openid' }), 'a user scope')
    t.equal(userScope?.error, 'invalid_scope')
    const wrong = await client.discovery(new URL(issuer), service.client_id, undefined, client.ClientSecretBasic('not the secret'), INSECURE)
    // RFC 6749 §5.2: a failed Basic authentication MUST be a 401 with a WWW-Authenticate header
    // for that scheme. openid-client checks challenges before the body, so this one surfaces as a
    // WWWAuthenticateChallengeError (not a ResponseBodyError), with the JSON body still unread.
    try {
      await client.clientCredentialsGrant(wrong, { scope: 'reports:read' })
      t.fail('a wrong secret was accepted')
    } catch (error) {
      t.type(error, client.WWWAuthenticateChallengeError)
      if (error instanceof client.WWWAuthenticateChallengeError) {
        t.equal(error.status, 401)
        t.match(error.cause, [{ scheme: 'basic', parameters: { realm: 'latchkey' } }])
        t.match(await error.response.json(), { error: 'invalid_client' })
      }
    }
  })

  t.test('a public native client: code flow with PKCE and no secret, refresh and revocation', async (t) => {
    const { issuer, user, clientDeps } = await setup(t)
    const native = await addClient(clientDeps, { name: 'Desktop App', isPublic: true, redirectUris: [NATIVE_REGISTERED] })
    t.equal(native.client_secret, undefined)
    const config = await client.discovery(new URL(issuer), native.client_id, undefined, client.None(), INSECURE)
    const browser = new FetchBrowser(issuer)

    const request = await authorizationRequest(config, NATIVE_REDIRECT, 'openid profile offline_access')
    const { callback, pages } = await userAuthorizes(browser, request.url, NATIVE_REDIRECT)
    t.same(pages, ['login', 'consent'])
    const tokens = await client.authorizationCodeGrant(config, callback, request.checks)
    t.equal(tokens.claims()?.sub, user.id)
    t.equal(tokens.claims()?.aud, native.client_id)
    t.equal(tokens.scope, 'openid profile offline_access')
    t.same(await client.fetchUserInfo(config, tokens.access_token, user.id), {
      sub: user.id,
      name: 'Dana Scully',
      preferred_username: 'dana',
    })

    // OAuth 2.1 §7.3.1: a native app sees the consent page every time, even with a session.
    const again = await authorizationRequest(config, NATIVE_REDIRECT, 'openid')
    t.same((await userAuthorizes(browser, again.url, NATIVE_REDIRECT)).pages, ['consent'])

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    t.equal(refreshed.claims()?.auth_time, tokens.claims()?.auth_time)
    // RFC 7009 §2.1: a public client revokes its own tokens with its client_id alone.
    await client.tokenRevocation(config, refreshed.refresh_token as string)
    const revoked = await oauthError(t, client.refreshTokenGrant(config, refreshed.refresh_token as string), 'the revoked refresh token')
    t.equal(revoked?.error, 'invalid_grant')

    // A code issued for a PKCE request cannot be redeemed without its verifier.
    const bare = await authorizationRequest(config, NATIVE_REDIRECT, 'openid')
    const bareCallback = (await userAuthorizes(browser, bare.url, NATIVE_REDIRECT)).callback
    const wrongVerifier = await oauthError(
      t,
      client.authorizationCodeGrant(config, bareCallback, { ...bare.checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }),
      'the wrong code_verifier',
    )
    t.equal(wrongVerifier?.error, 'invalid_grant')
  })
})
