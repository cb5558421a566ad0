import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { Browser, hiddenInputs } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, decide, PASSWORD, signIn } from '../helpers/oauth.js'

function lang(html: string): string | undefined {
  return /<html lang="([^"]*)">/.exec(html)?.[1]
}

function stylesheetUrl(html: string): string | undefined {
  return /<link rel="stylesheet" href="([^"]*)">/.exec(html)?.[1]
}

const SVG_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="4"/></svg>'

eachDialect(t, (t) => {
  t.test('every page links the one stylesheet, shows the brand, and has no inline style or script', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { scope: 'openid' })
    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client).url)
    const consent = await signIn(browser, login)
    const error = await browser.get(codeRequest(client, { redirect_uri: 'https://elsewhere.example.com/cb' }).url)
    const logout = await browser.get('/logout')
    const signedOut = await browser.post('/logout/confirm', hiddenInputs(logout.body, '/logout/confirm'))
    for (const [name, page] of Object.entries({ login, consent, error, logout, signedOut })) {
      t.match(stylesheetUrl(page.body), /^\/assets\/latchkey\.css\?v=[\w-]{16}$/, `${name}: the stylesheet`)
      t.match(page.body, /<title>[^<]+ · latchkey<\/title>/, `${name}: the brand in the title`)
      t.match(page.body, /<span class="brand-name">latchkey<\/span>/, `${name}: the brand in the header`)
      t.notMatch(page.body, /<img/, `${name}: no logo unless BRAND_LOGO is set`)
      t.notMatch(page.body, /\sstyle=|<style/i, `${name}: no inline style (CSP default-src 'self')`)
      // Only latchkey's own script files (the passkey buttons), never an inline one.
      const scripts = page.body.match(/<script\b[^>]*>[^<]*<\/script>/gi) ?? []
      t.equal((page.body.match(/<script\b/gi) ?? []).length, scripts.length, `${name}: every script tag is closed at once`)
      for (const script of scripts) t.match(script, /^<script src="\/assets\/[a-z]+\.js\?v=[\w-]{16}" integrity="sha384-[\w+/=]+" defer><\/script>$/, `${name}: a script file of latchkey's, no inline script`)
      t.equal(page.headers['content-security-policy'], "default-src 'self'; frame-ancestors 'none'", `${name}: the CSP`)
      t.equal(lang(page.body), 'en', `${name}: <html lang>`)
      t.equal(page.headers['content-language'], 'en')
    }
  })

  t.test('BRAND_NAME, BRAND_COLOR and BRAND_LOGO: on every page, served by latchkey', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-pages-'))
    writeFileSync(join(dir, 'logo.svg'), SVG_LOGO)
    const ctx = await buildTestApp(t, { env: { BRAND_NAME: 'Acme <Sign-in>', BRAND_COLOR: '#ffcc00', BRAND_LOGO: join(dir, 'logo.svg') } })
    const client = await createClient(ctx, { scope: 'openid' })
    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client).url)
    t.match(login.body, /<title>Sign in · Acme &lt;Sign-in&gt;<\/title>/, 'escaped')
    t.match(login.body, /<span class="brand-name">Acme &lt;Sign-in&gt;<\/span>/)
    const logoUrl = /<img class="brand-logo" src="([^"]*)" alt="">/.exec(login.body)?.[1]
    t.match(logoUrl, /^\/assets\/logo\?v=[\w-]{16}$/, 'the logo, from latchkey itself')

    const logo = await ctx.app.inject(logoUrl as string)
    t.equal(logo.statusCode, 200)
    t.equal(logo.headers['content-type'], 'image/svg+xml')
    t.equal(logo.body, SVG_LOGO)
    t.match(logo.headers['content-security-policy'], /default-src 'none'.*sandbox/, 'an SVG opened on its own runs no script')
    t.equal(logo.headers['x-content-type-options'], 'nosniff')

    const css = await ctx.app.inject(stylesheetUrl(login.body) as string)
    t.match(css.body, /--brand: #ffcc00;/, 'the brand colour')
    t.match(css.body, /--on-brand: #000000;/, 'black text on a light brand colour')
    t.match(css.body, /--accent-light: #[0-9a-f]{6};/)
    t.notMatch(css.body, /--accent-light: #ffcc00;/, 'too light for text on white: darkened')
  })

  t.test('the stylesheet: versioned URL cached a year, ETag and 304; unversioned revalidates', async (t) => {
    const { app } = await buildTestApp(t)
    const { app: other } = await buildTestApp(t, { env: { BRAND_COLOR: '#aa0000' } })
    const page = await app.inject(codeRequest({ client_id: 'unknown', redirectUri: 'https://x.example.com/cb' }).url)
    const url = stylesheetUrl(page.body) as string
    const css = await app.inject(url)
    t.equal(css.statusCode, 200)
    t.equal(css.headers['content-type'], 'text/css; charset=utf-8')
    t.equal(css.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.match(css.body, /prefers-color-scheme: dark/)
    t.match(css.body, /:focus-visible/)
    const etag = css.headers.etag as string
    t.match(etag, /^"[\w-]{16}"$/)
    t.equal(url.split('v=')[1], etag.slice(1, -1), 'the version is the hash')
    const again = await app.inject({ url, headers: { 'if-none-match': etag } })
    t.equal(again.statusCode, 304)
    t.equal(again.body, '')
    t.equal((await app.inject({ url, headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode, 304, 'in a list, weak or not')
    t.equal((await app.inject({ url, headers: { 'if-none-match': '"other"' } })).statusCode, 200)
    const bare = await app.inject('/assets/latchkey.css')
    t.equal(bare.headers['cache-control'], 'public, max-age=300', 'no version: a short cache')
    t.equal(bare.body, css.body)
    const otherCss = await other.inject('/assets/latchkey.css')
    t.not(otherCss.headers.etag, etag, 'another brand colour, another version')
    t.equal((await app.inject('/assets/logo')).statusCode, 404, 'no BRAND_LOGO: no logo')
  })

  t.test('the consent page: which app and where it sends you, which account, what in plain words, for how long', async (t) => {
    const ctx = await buildTestApp(t, { env: { ACCESS_TOKEN_TTL: '900', REFRESH_TOKEN_TTL: '604800', REFRESH_TOKEN_MAX_TTL: '7776000' } })
    await createUser(ctx)
    const web = await createClient(ctx, { name: 'Web Shop', redirectUris: ['https://shop.example.com:8443/cb'], scope: 'openid email offline_access' })
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(web).url))
    t.match(consent.body, /<h1>Allow Web Shop to access your account\?<\/h1>/)
    t.match(consent.body, /you then go back to <strong>shop\.example\.com:8443<\/strong>/, 'the host it returns to')
    t.match(consent.body, /Signed in as <strong>alice<\/strong>/)
    t.match(consent.body, /<li>See your email address<\/li>/)
    t.match(consent.body, /<li>Sign you in with your latchkey account and learn your user id<\/li>/)
    t.match(consent.body, /Each access lasts <strong>15 minutes<\/strong>\. <strong><bdi>Web Shop<\/bdi><\/strong> can renew it without asking you as long as it uses it at least every <strong>7 days<\/strong>, for <strong>90 days<\/strong> at most\./)
    t.match(consent.body, /If you allow, latchkey remembers it/, 'a confidential client: the consent is remembered')

    // No refresh_token grant: access ends with the access token, whatever the scopes say.
    const native = await createClient(ctx, {
      name: 'Desk App',
      isPublic: true,
      redirectUris: ['com.example.desk:/cb'],
      grants: ['authorization_code'],
      scope: 'openid offline_access',
    })
    const nativePage = await browser.get(codeRequest(native).url)
    t.match(nativePage.body, /Access lasts <strong>15 minutes<\/strong>\. After that, <strong><bdi>Desk App<\/bdi><\/strong> has to send you back here/)
    t.notMatch(nativePage.body, /renew/)
    t.match(nativePage.body, /an app on this device \(<strong>com\.example\.desk<\/strong>\)/)
    t.match(nativePage.body, /latchkey asks you each time/, 'a native app is asked every time (OAuth 2.1 §7.3.1)')
    const loopback = await createClient(ctx, { isPublic: true, redirectUris: ['http://127.0.0.1:7000/cb'], scope: 'openid' })
    t.match((await browser.get(codeRequest(loopback).url)).body, /an app on this device \(<strong>127\.0\.0\.1:7000<\/strong>\)/)

    // A description an administrator changed is shown as written, in every language.
    await ctx.repos.scopes.upsert({ name: 'email', description: 'Read the address we write to' })
    const changed = await browser.get(codeRequest(web, { ui_locales: 'de' }).url)
    t.match(changed.body, /<li>Read the address we write to<\/li>/)
    t.match(changed.body, /<li>Sie mit Ihrem latchkey-Konto anmelden/, 'an unchanged one is translated')
  })

  t.test('ui_locales picks the language, is kept for the forms that follow, and is advertised', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { scope: 'openid' })
    const doc = (await ctx.app.inject('/.well-known/openid-configuration')).json()
    t.same(doc.ui_locales_supported, ['en', 'de'])

    const browser = new Browser(ctx.app)
    const login = await browser.get(codeRequest(client, { ui_locales: 'fr de-CH en' }).url)
    t.equal(lang(login.body), 'de', 'the first one latchkey has, by its primary language')
    t.match(login.body, /<label for="username">Benutzername<\/label>/)
    t.equal(login.headers['content-language'], 'de')
    const wrong = await browser.post('/authorize/login', { ...hiddenInputs(login.body), username: 'alice', password: 'wrong' })
    t.equal(lang(wrong.body), 'de', 'the login post has no ui_locales: the transaction kept it')
    t.match(wrong.body, /<p class="alert" role="alert" id="login-error">Benutzername oder Passwort ist falsch\.<\/p>/)
    t.match(wrong.body, /aria-invalid="true" aria-describedby="login-error"/)
    const consent = await browser.post('/authorize/login', { ...hiddenInputs(wrong.body), username: 'alice', password: PASSWORD })
    t.equal(lang(consent.body), 'de')
    t.match(consent.body, /value="allow">Erlauben</)
    const tx = await ctx.repos.transactions.findById(hiddenInputs(consent.body, '/authorize/consent').transaction as string)
    t.equal(tx?.uiLocale, 'de', 'stored with the transaction')
    t.equal((await decide(browser, consent, 'allow')).statusCode, 303)

    const neither = await new Browser(ctx.app).get(codeRequest(client, { ui_locales: 'fr ja' }).url)
    t.equal(lang(neither.body), 'en', 'none latchkey has: English')
    const junk = await new Browser(ctx.app).get(codeRequest(client, { ui_locales: '!!! de' }).url)
    t.equal(lang(junk.body), 'de', 'a malformed tag is skipped, not an error')
  })

  t.test('Accept-Language decides without ui_locales, ui_locales wins over it, English otherwise', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { scope: 'openid' })
    const get = (url: string, acceptLanguage: string) => new Browser(ctx.app).request({ method: 'GET', url, headers: { 'accept-language': acceptLanguage } })
    const cases: Array<[string, string | undefined, string]> = [
      ['de-DE,de;q=0.9,en;q=0.8', undefined, 'de'],
      ['fr;q=1, de;q=0.5, en;q=0.7', undefined, 'en'],
      ['fr, de;q=0.1', undefined, 'de'],
      ['de;q=0, en-GB;q=0.5', undefined, 'en'],
      ['*', undefined, 'en'],
      ['', undefined, 'en'],
      ['de', 'en', 'en'],
    ]
    for (const [header, uiLocales, expected] of cases) {
      const page = await get(codeRequest(client, { ui_locales: uiLocales }).url, header)
      t.equal(lang(page.body), expected, `Accept-Language "${header}", ui_locales ${uiLocales ?? 'none'}`)
      t.match(page.headers.vary, /Accept-Language/)
    }
    const error = await get(codeRequest(client, { redirect_uri: 'https://elsewhere.example.com/cb' }).url, 'de')
    t.match(error.body, /<h1>Diese Anfrage kann nicht ausgeführt werden<\/h1>/, 'error pages too')
    const posted = await new Browser(ctx.app).request({
      method: 'POST',
      url: '/authorize/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'de' },
      payload: 'transaction=x&csrf_token=y',
    })
    t.equal(lang(posted.body), 'de', 'a form without its transaction: Accept-Language')
  })

  t.test('the error page tells a person what happened and a developer the detail', async (t) => {
    const ctx = await buildTestApp(t)
    await createUser(ctx)
    const client = await createClient(ctx, { scope: 'openid' })
    const browser = new Browser(ctx.app)
    const reason = (html: string) => /<p class="alert" role="alert">([^<]*)<\/p>/.exec(html)?.[1]

    const unknown = await browser.get(codeRequest({ client_id: 'lk_nobody', redirectUri: client.redirectUri }).url)
    t.equal(unknown.statusCode, 400)
    t.match(reason(unknown.body), /is not registered with latchkey/)
    t.match(unknown.body, /<dd><code>invalid_request<\/code><\/dd>/)
    t.match(unknown.body, /<dd lang="en">unknown client<\/dd>/)
    t.match(unknown.body, /<dd>400<\/dd>/)

    const redirect = await browser.get(codeRequest(client, { redirect_uri: 'https://elsewhere.example.com/cb' }).url)
    t.match(reason(redirect.body), /an address it has not registered/)
    t.match(redirect.body, /redirect_uri is not registered for this client/)

    const noClient = await browser.get('/authorize?response_type=code')
    t.match(reason(noClient.body), /made a request latchkey cannot accept/)

    const login = await browser.get(codeRequest(client).url)
    const forged = await new Browser(ctx.app).post('/authorize/login', { ...hiddenInputs(login.body), username: 'alice', password: PASSWORD })
    t.equal(forged.statusCode, 403)
    t.match(reason(forged.body), /did not come from the browser tab that started signing in/)

    const consent = await signIn(browser, login)
    await decide(browser, consent, 'allow')
    const again = await decide(browser, consent, 'deny')
    t.match(reason(again.body), /already been completed/)

    const stale = await browser.get(codeRequest(client, { prompt: 'consent' }).url)
    ctx.clock.advance(11 * 60)
    const expired = await decide(browser, stale, 'allow')
    t.match(reason(expired.body), /took too long and has expired/)

    const pending = await browser.get(codeRequest(client, { prompt: 'consent' }).url)
    await browser.post('/logout/confirm', hiddenInputs((await browser.get('/logout')).body, '/logout/confirm'))
    const signedOut = await decide(browser, pending, 'allow')
    t.match(reason(signedOut.body), /no longer signed in as the person this request was for/)

    const logoutForged = await new Browser(ctx.app).post('/logout/confirm', { csrf_token: 'x' })
    t.match(reason(logoutForged.body), /did not come from the browser tab/)
  })
})
