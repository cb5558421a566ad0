import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, decide, redirectParams, signIn } from '../helpers/oauth.js'
import { register } from '../helpers/registration.js'

// A self-registered client's redirect URIs are anyone's choice: latchkey must never send a
// browser there without the user's own action (RFC 9700 §4.11.2: no open redirector).

const EVIL = 'https://evil.example/cb'

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
})
