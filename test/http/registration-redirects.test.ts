import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, decide, exchange, obtainCode, redirectParams, signIn } from '../helpers/oauth.js'
import { manage, PUBLIC_APP, register } from '../helpers/registration.js'

// A self-registered client's redirect URIs are anyone's choice: latchkey must never send a
// browser there without the user's own action (RFC 9700 §4.11.2: no open redirector).

const EVIL = 'https://evil.example/cb'
const PHISH = 'https://evil.example/phish'

const logoutUrl = (params: Record<string, string>) => `/logout?${new URLSearchParams(params).toString()}`

async function selfRegistered(ctx: TestApp, body: Record<string, unknown>) {
  const res = await register(ctx, { client_name: 'Evil', grant_types: ['authorization_code'], ...body })
  if (res.statusCode !== 201) throw new Error(`registration failed: ${res.body}`)
  const json = res.json() as { client_id: string; redirect_uris: string[] }
  return { client_id: json.client_id, redirectUri: json.redirect_uris[0] as string }
}

function assertErrorPage(t: Test, res: LightMyRequestResponse, error: string) {
  t.equal(res.statusCode, 400)
  t.notOk(res.headers.location, 'never redirects')
  t.match(res.headers['content-type'], /text\/html/)
  t.match(res.body, `<code>${error}</code>`)
}

eachDialect(t, (t) => {
  t.test('/authorize shows errors for a self-registered client on a page, never redirecting before the user acts', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    await createUser(ctx)
    const evil = await selfRegistered(ctx, { redirect_uris: [EVIL] })
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ response_type: undefined }, 'invalid_request'],
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ scope: 'admin' }, 'invalid_scope'],
      [{ resource: '/api' }, 'invalid_target'],
      [{ state: 'x'.repeat(1025) }, 'invalid_request'],
      [{ prompt: 'none' }, 'login_required'],
    ]
    for (const [change, error] of cases) assertErrorPage(t, await ctx.app.inject(codeRequest(evil, change).url), error)
    const german = await ctx.app.inject(codeRequest(evil, { response_type: 'token', ui_locales: 'de' }).url)
    assertErrorPage(t, german, 'unsupported_response_type')
    t.equal(german.headers['content-language'], 'de', 'in the language of the pages')

    // Signed in, without consent (never remembered for a self-registered client).
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(evil).url))
    t.equal(consent.statusCode, 200)
    assertErrorPage(t, await browser.get(codeRequest(evil, { prompt: 'none' }).url), 'consent_required')
    // The user's own answer on the consent page still goes back to the client.
    const denied = await decide(browser, consent, 'deny')
    t.equal(denied.statusCode, 303)
    t.equal(redirectParams(denied).get('error'), 'access_denied')
    t.ok((denied.headers.location as string).startsWith(`${EVIL}?`))

    // A client an administrator added still gets its errors by redirect.
    const added = await createClient(ctx, { isPublic: true })
    const redirected = await ctx.app.inject(codeRequest(added, { response_type: 'token' }).url)
    t.equal(redirected.statusCode, 302)
    t.equal(redirectParams(redirected).get('error'), 'unsupported_response_type')
    const none = await ctx.app.inject(codeRequest(added, { prompt: 'none' }).url)
    t.equal(redirectParams(none).get('error'), 'login_required')
  })

  t.test('/logout always asks before sending the browser to a self-registered client, and the page says where it goes', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    await createUser(ctx)
    const evil = await selfRegistered(ctx, { client_name: 'Company SSO', redirect_uris: [EVIL], post_logout_redirect_uris: [PHISH], scope: 'openid' })
    // Registration refuses direction overrides in client_name; an administrator's rename does not.
    await ctx.repos.clients.update(evil.client_id, { name: 'Company SSO \u202Eevil' })
    const { code, verifier, browser } = await obtainCode(ctx, evil, { scope: 'openid' })
    const tokens = await exchange(ctx.app, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: evil.client_id, redirect_uri: EVIL })
    const hint = (tokens.json() as { id_token: string }).id_token
    t.type(hint, 'string')

    // Without a session (any browser), and with the very session the hint was issued for.
    ctx.clock.advance(2 * 3600) // the hint has expired
    for (const [name, who] of [['no session', new Browser(ctx.app)], ['this session', browser]] as const) {
      const page = await who.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: PHISH, state: 's' }))
      t.equal(page.statusCode, 200, `${name}: the confirmation page`)
      t.notOk(page.headers.location, `${name}: no redirect`)
      t.match(page.body, /action="\/logout\/confirm"/)
      t.match(page.body, /<strong><bdi>Company SSO \u202Eevil<\/bdi><\/strong> asks to sign you out/)
      t.match(page.body, /send you to <strong>evil\.example<\/strong>/)
      t.match(page.body, /class="notice"/)
      t.match(page.body, /registered itself with <strong>latchkey<\/strong>/)
    }
    t.ok(await ctx.repos.sessions.findActive(sha256Hex(browser.cookies.get('lk_session') as string), ctx.clock.now()), 'the session was not ended unasked')

    // With client_id and no hint: the same page, in German too.
    const german = await new Browser(ctx.app).get(logoutUrl({ client_id: evil.client_id, post_logout_redirect_uri: PHISH, ui_locales: 'de' }))
    t.match(german.body, /hat sich selbst bei <strong>latchkey<\/strong> registriert/)
    t.match(german.body, /zu <strong>evil\.example<\/strong>/)
    // Without a post_logout_redirect_uri: the notice, no destination.
    const stay = await new Browser(ctx.app).get(logoutUrl({ id_token_hint: hint }))
    t.equal(stay.statusCode, 200)
    t.match(stay.body, /Sign out here only if you meant to/)
    t.notMatch(stay.body, /send you to/)

    // The user's own click on the page goes there.
    const page = await browser.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: PHISH, state: 's' }))
    const done = await browser.post('/logout/confirm', hiddenInputs(page.body, '/logout/confirm'))
    t.equal(done.statusCode, 303)
    t.equal(done.headers.location, `${PHISH}?state=s`)

    // A client an administrator added: unchanged, no notice, but the page names the destination.
    const added = await createClient(ctx, { name: 'Vetted', postLogoutRedirectUris: ['https://app.example.com/bye'] })
    const vetted = await new Browser(ctx.app).get(logoutUrl({ client_id: added.client_id, post_logout_redirect_uri: 'https://app.example.com/bye' }))
    t.notMatch(vetted.body, /registered itself/)
    t.match(vetted.body, /send you to <strong>app\.example\.com<\/strong>/)
  })

  t.test('registration refuses redirect URIs on latchkey\'s origin or on the origin of a client an administrator added, loopback excepted', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    await createClient(ctx, { name: 'Company', redirectUris: ['https://app.company.com/cb', 'com.company.app:/cb', 'http://127.0.0.1:8080/cb'], postLogoutRedirectUris: ['https://bye.company.com/x'] })
    // A stored URI that does not parse is ignored, not a 500.
    const broken = await createClient(ctx, { name: 'Broken' })
    await ctx.repos.clients.update(broken.client_id, { redirectUris: ['not a uri'] })
    const issuer = ctx.config.issuer
    const refused: Array<[string, Record<string, unknown>]> = [
      ['the issuer\'s origin', { redirect_uris: [`${issuer}/cb`] }],
      ['the issuer\'s origin, post-logout', { redirect_uris: [EVIL], post_logout_redirect_uris: [`${issuer}/logout`] }],
      ['an administrator\'s client\'s origin', { redirect_uris: [EVIL, 'https://app.company.com/other'] }],
      ['its default port written out', { redirect_uris: ['https://app.company.com:443/cb'] }],
      ['an administrator\'s client\'s private-use scheme', { redirect_uris: ['com.company.app:/x'] }],
      ['an administrator\'s client\'s origin, post-logout', { redirect_uris: [EVIL], post_logout_redirect_uris: ['https://app.company.com/bye'] }],
      ['an administrator\'s client\'s post-logout origin', { redirect_uris: ['https://bye.company.com/cb'] }],
    ]
    for (const [name, body] of refused) {
      const res = await register(ctx, { ...PUBLIC_APP, ...body })
      t.equal(res.statusCode, 400, name)
      t.equal(res.json().error, 'invalid_redirect_uri', name)
      t.match(res.json().error_description, /latchkey's own origin|a client an administrator added/, name)
    }
    t.same(await ctx.repos.clients.findByName('Photo Agent'), [], 'nothing was stored')

    // Another port is another origin; loopback is shared by every native app; one's own is fine.
    for (const uri of ['https://app.company.com:8443/cb', 'http://127.0.0.1:8080/cb', 'com.company.other:/cb', 'https://company.com/cb']) {
      t.equal((await register(ctx, { ...PUBLIC_APP, redirect_uris: [uri] })).statusCode, 201, uri)
    }

    // RFC 7592 update: the same rules, and nothing changes.
    const own = (await register(ctx, { ...PUBLIC_APP, client_name: 'Mine' })).json() as { client_id: string; registration_access_token: string; redirect_uris: string[] }
    const res = await manage(ctx, 'PUT', own.client_id, own.registration_access_token, { ...PUBLIC_APP, client_id: own.client_id, redirect_uris: ['https://app.company.com/cb'] })
    t.equal(res.statusCode, 400)
    t.equal(res.json().error, 'invalid_redirect_uri')
    t.same((await ctx.repos.clients.findById(own.client_id))?.redirectUris, own.redirect_uris, 'unchanged')
    const logoutRes = await manage(ctx, 'PUT', own.client_id, own.registration_access_token, { ...PUBLIC_APP, client_id: own.client_id, post_logout_redirect_uris: [`${issuer}/x`] })
    t.equal(logoutRes.json().error, 'invalid_redirect_uri')
    // Its own URIs are not an administrator's: an update may keep them.
    const kept = await manage(ctx, 'PUT', own.client_id, own.registration_access_token, { ...PUBLIC_APP, client_id: own.client_id, client_name: 'Mine 2' })
    t.equal(kept.statusCode, 200)
  })
})
