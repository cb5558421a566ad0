import t, { type Test } from 'tap'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient, createUser, decide, obtainCode, redirectParams, signIn } from '../helpers/oauth.js'

// RFC 8707 §2 at the authorization endpoint: only an audience the client is registered for, an
// error redirect otherwise; the consent page names the API, and a remembered consent covers only
// the resources it was given for (RFC 9700 §2.3).

const DEFAULT_AUDIENCE = 'http://localhost:4000'
const ORDERS = 'https://orders.example.com/api'
const PAYMENTS = 'https://payments.example.com'

type Response = Awaited<ReturnType<Browser['get']>>

async function setup(t: Test) {
  const ctx = await buildTestApp(t)
  await createUser(ctx)
  await createClient(ctx, { name: 'Orders API', audience: ORDERS, redirectUris: [] })
  await createClient(ctx, { name: 'Payments API', audience: PAYMENTS, redirectUris: [] })
  return ctx
}

const transactions = async (ctx: TestApp) => (await ctx.store.db.selectFrom('authorization_transactions').select('id').execute()).length

function assertRedirectError(t: Test, res: Response, client: { redirectUri: string }, description: RegExp, name: string) {
  t.equal(res.statusCode, 302, name)
  const location = new URL(res.headers.location as string)
  t.equal(`${location.origin}${location.pathname}`, client.redirectUri, `${name}: back to the client`)
  t.equal(location.searchParams.get('error'), 'invalid_target', name)
  t.match(location.searchParams.get('error_description'), description, name)
  t.equal(location.searchParams.get('state'), 'xyz-state')
  t.equal(location.searchParams.get('iss'), 'http://localhost:3000')
  t.notOk(location.searchParams.get('code'))
}

const isLoginPage = (res: Response) => res.statusCode === 200 && res.body.includes('name="password"')

eachDialect(t, (t) => {
  t.test('a registered audience starts the flow; another resource server\'s audience is an error redirect (the issue)', async (t) => {
    const ctx = await setup(t)
    const shop = await createClient(ctx, { name: 'Shop', resources: [ORDERS] })
    const browser = new Browser(ctx.app)
    t.ok(isLoginPage(await browser.get(codeRequest(shop, { resource: ORDERS }).url)), 'registered audience: the login page')
    t.equal(await transactions(ctx), 1)
    assertRedirectError(t, await browser.get(codeRequest(shop, { resource: PAYMENTS }).url), shop, /not registered for this resource/, 'the Payments API')
    assertRedirectError(t, await browser.get(codeRequest(shop, { resource: DEFAULT_AUDIENCE }).url), shop, /not registered/, 'DEFAULT_AUDIENCE, not in its list')
    t.equal(await transactions(ctx), 1, 'a refused request stores nothing')
    const { code } = await obtainCode(ctx, shop, { resource: ORDERS })
    t.ok(code)
  })

  t.test('a client registered for no audience may ask for DEFAULT_AUDIENCE only', async (t) => {
    const ctx = await setup(t)
    const plain = await createClient(ctx)
    const browser = new Browser(ctx.app)
    t.ok(isLoginPage(await browser.get(codeRequest(plain).url)), 'no resource')
    t.ok(isLoginPage(await browser.get(codeRequest(plain, { resource: DEFAULT_AUDIENCE }).url)), 'resource=DEFAULT_AUDIENCE')
    assertRedirectError(t, await browser.get(codeRequest(plain, { resource: ORDERS }).url), plain, /not registered/, 'a registered resource server')
    assertRedirectError(t, await browser.get(codeRequest(plain, { resource: 'https://anything.example.com' }).url), plain, /not registered/, 'any URI')
    const { code } = await obtainCode(ctx, plain)
    t.equal((await ctx.repos.codes.findByHash(sha256Hex(code)))?.resource, DEFAULT_AUDIENCE, 'the code is bound to DEFAULT_AUDIENCE')
  })

  t.test('a client whose list excludes DEFAULT_AUDIENCE: its only audience, else resource is required', async (t) => {
    const ctx = await setup(t)
    const one = await createClient(ctx, { resources: [ORDERS] })
    const two = await createClient(ctx, { resources: [ORDERS, PAYMENTS] })
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(one).url))
    t.match(page.body, /<strong>Orders API<\/strong>/, 'no resource: the one registered audience')
    assertRedirectError(t, await browser.get(codeRequest(two).url), two, /resource is required/, 'two audiences, none named')
    t.match((await browser.get(codeRequest(two, { resource: PAYMENTS }).url)).body, /<strong>Payments API<\/strong>/, 'either may be named')
  })

  t.test('the consent page names the API: the resource server\'s name, else the URI, escaped', async (t) => {
    const ctx = await setup(t)
    const odd = 'https://unregistered.example.com/?q=<b>&x="1"'
    await createClient(ctx, { name: 'Ledger <v2> & "co"', audience: 'https://ledger.example.com', redirectUris: [] })
    const shop = await createClient(ctx, { name: 'Shop', resources: [ORDERS, odd, 'https://ledger.example.com'] })
    const browser = new Browser(ctx.app)
    const orders = await signIn(browser, await browser.get(codeRequest(shop, { resource: ORDERS }).url))
    t.equal(orders.statusCode, 200)
    t.match(orders.body, /<strong><bdi>Shop<\/bdi><\/strong> asks for access to <strong>Orders API<\/strong>/)
    t.notMatch(orders.body, /orders\.example\.com/, 'the name, not the URI')
    const unregistered = await browser.get(codeRequest(shop, { resource: odd }).url)
    t.match(unregistered.body, /asks for access to <strong>https:\/\/unregistered\.example\.com\/\?q=&lt;b&gt;&amp;x=&quot;1&quot;<\/strong>/, 'the URI itself, escaped')
    t.notMatch(unregistered.body, /<b>/)
    const ledger = await browser.get(codeRequest(shop, { resource: 'https://ledger.example.com' }).url)
    t.match(ledger.body, /asks for access to <strong>Ledger &lt;v2&gt; &amp; &quot;co&quot;<\/strong>/, 'a name is escaped too')
    const plain = await createClient(ctx, { name: 'Plain' })
    t.match((await browser.get(codeRequest(plain).url)).body, /asks for access to <strong>http:\/\/localhost:4000<\/strong>/, 'DEFAULT_AUDIENCE with no resource server registered for it')
  })

  t.test('a remembered consent covers the resources it was given for: consent for A is not consent for B', async (t) => {
    const ctx = await setup(t)
    const shop = await createClient(ctx, { name: 'Shop', scope: 'openid', resources: [ORDERS, PAYMENTS] })
    const { browser } = await obtainCode(ctx, shop, { resource: ORDERS })

    const again = await browser.get(codeRequest(shop, { resource: ORDERS }).url)
    t.equal(again.statusCode, 302, 'A again: straight back with a code')
    t.ok(redirectParams(again).get('code'))
    t.ok(redirectParams(await browser.get(codeRequest(shop, { resource: ORDERS, prompt: 'none' }).url)).get('code'), 'prompt=none for A: a code')

    const none = await browser.get(codeRequest(shop, { resource: PAYMENTS, prompt: 'none' }).url)
    t.equal(none.statusCode, 302)
    t.equal(redirectParams(none).get('error'), 'consent_required', 'prompt=none for B')
    const page = await browser.get(codeRequest(shop, { resource: PAYMENTS }).url)
    t.equal(page.statusCode, 200, 'B: the consent page')
    t.match(page.body, /asks for access to <strong>Payments API<\/strong>/)

    t.equal((await decide(browser, page, 'allow')).statusCode, 303)
    const userId = (await ctx.repos.users.findByUsername('alice'))?.id as string
    for (const resource of [ORDERS, PAYMENTS]) {
      t.same((await ctx.repos.consents.find(shop.client_id, userId, resource))?.scopes, ['openid'], `remembered for ${resource}`)
    }
    for (const resource of [ORDERS, PAYMENTS]) {
      const res = await browser.get(codeRequest(shop, { resource, prompt: 'none' }).url)
      t.ok(redirectParams(res).get('code'), `prompt=none for ${resource}: a code`)
    }
  })

  t.test('the scopes allowed for one API are not allowed for another', async (t) => {
    const ctx = await setup(t)
    const shop = await createClient(ctx, { name: 'Shop', scope: 'openid profile', resources: [ORDERS, PAYMENTS] })
    const { browser } = await obtainCode(ctx, shop, { resource: ORDERS, scope: 'openid profile' })
    await obtainCode(ctx, shop, { resource: PAYMENTS, scope: 'openid' }, browser)
    const both = await browser.get(codeRequest(shop, { resource: PAYMENTS, scope: 'openid profile', prompt: 'none' }).url)
    t.equal(redirectParams(both).get('error'), 'consent_required', 'profile was allowed for Orders, not for Payments')
    const page = await browser.get(codeRequest(shop, { resource: PAYMENTS, scope: 'openid profile' }).url)
    t.equal(page.statusCode, 200, 'the consent page')
    await decide(browser, page, 'allow')
    t.ok(redirectParams(await browser.get(codeRequest(shop, { resource: PAYMENTS, scope: 'openid profile', prompt: 'none' }).url)).get('code'), 'then remembered')
  })
})
