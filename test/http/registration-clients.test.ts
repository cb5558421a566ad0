import t from 'tap'
import { listClients } from '../../src/admin/clients.js'
import { createRegistrationToken } from '../../src/admin/registration-tokens.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { purgeExpired, purgePolicy } from '../../src/storage/purge.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { eachDialect } from '../helpers/db.js'
import { basic, codeRequest, createClient, createUser, decide, exchange, obtainCode, redirectParams, signIn, verifyAccessToken } from '../helpers/oauth.js'
import { initialToken, manage, PUBLIC_APP, register } from '../helpers/registration.js'

// What a self-registered client is once registered: its consent is never remembered and the
// page says it registered itself; its audiences; its use recorded; its purge when unused.

const DAY = 86_400
const ORDERS = 'https://orders.example.com/api'

async function selfRegistered(ctx: TestApp, body: Record<string, unknown> = PUBLIC_APP, headers: Record<string, string> = {}) {
  const res = await register(ctx, body, headers)
  if (res.statusCode !== 201) throw new Error(`registration failed: ${res.body}`)
  const json = res.json()
  return { ...json, redirectUri: (json.redirect_uris as string[])[0] as string } as { client_id: string; client_secret?: string; redirectUri: string; registration_access_token: string }
}

const lastUsedAt = async (ctx: TestApp, clientId: string) => (await ctx.repos.clients.findById(clientId))?.lastUsedAt

eachDialect(t, (t) => {
  t.test('consent for a self-registered client is never remembered, and the page says the app registered itself and where it goes back to', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    await createUser(ctx)
    const agent = await selfRegistered(ctx)
    const browser = new Browser(ctx.app)
    const consent = await signIn(browser, await browser.get(codeRequest(agent).url))
    t.equal(consent.statusCode, 200)
    t.match(consent.body, /class="notice"/)
    t.match(consent.body, /<strong><bdi>Photo Agent<\/bdi><\/strong> registered itself with <strong>latchkey<\/strong>/)
    t.match(consent.body, /send you back to <strong>agent\.example\.com<\/strong>/)
    t.match(consent.body, /latchkey asks you each time this app wants access/)
    const done = await decide(browser, consent, 'allow')
    t.ok(redirectParams(done).get('code'))

    // An https redirect URI would let a client added by an administrator skip the page now.
    const again = await browser.get(codeRequest(agent).url)
    t.equal(again.statusCode, 200, 'the consent page again, not a redirect')
    t.match(again.body, /name="decision" value="allow"/)
    const german = await browser.get(codeRequest(agent, { ui_locales: 'de' }).url)
    t.match(german.body, /<strong><bdi>Photo Agent<\/bdi><\/strong> hat sich selbst bei <strong>latchkey<\/strong> registriert/)
    t.match(german.body, /zurück zu <strong>agent\.example\.com<\/strong>/)

    // A second registration with the same name and redirect URI inherits nothing.
    const twin = await selfRegistered(ctx)
    t.equal((await browser.get(codeRequest(twin).url)).statusCode, 200, 'its own consent page')

    // A client an administrator added shows no notice.
    const added = await createClient(ctx, { name: 'Vetted', isPublic: true })
    const vetted = await browser.get(codeRequest(added).url)
    t.notMatch(vetted.body, /registered itself/)
  })

  t.test('audiences: DEFAULT_AUDIENCE without resource; with it, an API registered as a resource server, nothing else', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'token' } })
    await createUser(ctx)
    await createClient(ctx, { name: 'Orders API', audience: ORDERS, redirectUris: [] })
    const auth = { authorization: `Bearer ${await initialToken(ctx)}` }
    const agent = await selfRegistered(ctx, { ...PUBLIC_APP, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'client_credentials'], scope: 'openid' }, auth)
    const secret = basic(agent.client_id, agent.client_secret as string)

    const plain = await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: secret })
    t.equal((await verifyAccessToken(ctx, plain.json().access_token)).payload.aud, ctx.config.defaultAudience, 'no resource: DEFAULT_AUDIENCE')
    const orders = await exchange(ctx.app, { grant_type: 'client_credentials', resource: ORDERS }, { authorization: secret })
    t.equal((await verifyAccessToken(ctx, orders.json().access_token)).payload.aud, ORDERS, 'a registered resource server')
    const explicitDefault = await exchange(ctx.app, { grant_type: 'client_credentials', resource: ctx.config.defaultAudience }, { authorization: secret })
    t.equal(explicitDefault.statusCode, 200)
    for (const resource of ['https://payments.example.com', 'not a uri', 'https://orders.example.com/api#x']) {
      const refused = await exchange(ctx.app, { grant_type: 'client_credentials', resource }, { authorization: secret })
      t.equal(refused.json().error, 'invalid_target', resource)
    }

    // The same at /authorize, with the consent page naming the API.
    const browser = new Browser(ctx.app)
    const page = await signIn(browser, await browser.get(codeRequest(agent, { resource: ORDERS }).url))
    t.match(page.body, /Orders API/)
    const refused = await browser.get(codeRequest(agent, { resource: 'https://payments.example.com' }).url)
    // A self-registered client's errors are shown on latchkey's page, not redirected.
    t.equal(refused.statusCode, 400)
    t.match(refused.body, /<code>invalid_target<\/code>/)

    // A client an administrator added keeps its own list.
    const vetted = await createClient(ctx, { name: 'Vetted', grants: ['client_credentials'], redirectUris: [] })
    const vettedRes = await exchange(ctx.app, { grant_type: 'client_credentials', resource: ORDERS }, { authorization: basic(vetted.client_id, vetted.client_secret as string) })
    t.equal(vettedRes.json().error, 'invalid_target')
  })

  t.test('a token issued to a self-registered client records its use, at most once an hour; the purge removes those unused for REGISTRATION_UNUSED_DAYS, never used for a day', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open', REGISTRATION_UNUSED_DAYS: '10', REFRESH_TOKEN_TTL: String(5 * DAY) } })
    await createUser(ctx)
    const used = await selfRegistered(ctx)
    const unused = await selfRegistered(ctx)
    const vetted = await createClient(ctx, { name: 'Vetted' })
    t.equal(await lastUsedAt(ctx, used.client_id), null, 'never used')

    const redeem = async () => {
      const { code, verifier } = await obtainCode(ctx, used)
      const res = await exchange(ctx.app, { grant_type: 'authorization_code', client_id: used.client_id, code, code_verifier: verifier, redirect_uri: used.redirectUri })
      t.equal(res.statusCode, 200)
      return res.json() as { refresh_token: string }
    }
    const first = ctx.clock.now()
    const tokens = await redeem()
    t.equal(await lastUsedAt(ctx, used.client_id), first, 'recorded when a token is issued')
    ctx.clock.advance(1800)
    await redeem()
    t.equal(await lastUsedAt(ctx, used.client_id), first, 'not written again within the hour')
    ctx.clock.advance(1800)
    const refreshed = await exchange(ctx.app, { grant_type: 'refresh_token', client_id: used.client_id, refresh_token: tokens.refresh_token })
    t.equal(refreshed.statusCode, 200)
    t.equal(await lastUsedAt(ctx, used.client_id), ctx.clock.now(), 'a refresh counts, an hour later')
    const { code, verifier } = await obtainCode(ctx, vetted)
    await exchange(ctx.app, { grant_type: 'authorization_code', client_id: vetted.client_id, client_secret: vetted.client_secret as string, code, code_verifier: verifier, redirect_uri: vetted.redirectUri })
    t.equal(await lastUsedAt(ctx, vetted.client_id), null, 'nothing written for a client an administrator added')

    // Registered at 0, the used one last used at 1 h. At 23 h nothing is purged; at 24 h the
    // never-used one goes (whatever REGISTRATION_UNUSED_DAYS says); at 10 d the used one stays;
    // at 10 d 1 h 30 min it goes, its refresh tokens (REFRESH_TOKEN_TTL 5 d) long expired; an
    // administrator's never.
    const purge = () => purgeExpired(ctx.store.db, purgePolicy(ctx.config, ctx.clock.now()))
    ctx.clock.advance(22 * 3600)
    t.equal((await purge()).clients, 0)
    ctx.clock.advance(3600)
    const deleted = await purge()
    t.equal(deleted.clients, 1)
    t.equal(await ctx.repos.clients.findById(unused.client_id), undefined, 'the never-used client is gone after a day')
    t.ok(await ctx.repos.clients.findById(used.client_id), 'the used one stays')
    ctx.clock.advance(9 * DAY)
    t.equal((await purge()).clients, 0)
    ctx.clock.advance(5400)
    t.equal((await purge()).clients, 1)
    t.equal(await ctx.repos.clients.findById(used.client_id), undefined)
    t.ok(await ctx.repos.clients.findById(vetted.client_id), 'never a client an administrator added')
    const families = await ctx.store.db.selectFrom('refresh_token_families').select('id').where('client_id', '=', used.client_id).execute()
    t.same(families, [], 'its families went with it')
  })
})

t.test('the purge removes expired initial access tokens, used or not', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'token' } })
  const deps = { initialAccessTokens: ctx.repos.initialAccessTokens, clock: ctx.clock, audit: { record() {} } }
  const short = await createRegistrationToken(deps, { expiresIn: '60' })
  await createRegistrationToken(deps, {})
  await register(ctx, PUBLIC_APP, { authorization: `Bearer ${short.token}` })
  ctx.clock.advance(61)
  const deleted = await purgeExpired(ctx.store.db, purgePolicy(ctx.config, ctx.clock.now()))
  t.equal(deleted.initial_access_tokens, 1)
  t.equal((await ctx.store.db.selectFrom('initial_access_tokens').select('token_hash').execute()).length, 1, 'the unexpired one stays')
})

t.test('a self-registered client stored without its auth method reads as the default of its kind', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
  const agent = await selfRegistered(ctx)
  const secretClient = await createClient(ctx, { name: 'Service' })
  await ctx.store.db.updateTable('clients').set({ token_endpoint_auth_method: null }).execute()
  // An administrator's client made self-registered by hand: a secret, so client_secret_basic.
  await ctx.store.db.updateTable('clients').set({ self_registered: 1, registration_token_hash: sha256Hex('rat') }).where('id', '=', secretClient.client_id).execute()
  const read = await manage(ctx, 'GET', agent.client_id, agent.registration_access_token)
  t.equal(read.json().token_endpoint_auth_method, 'none')
  const service = await manage(ctx, 'GET', secretClient.client_id, 'rat')
  t.equal(service.json().token_endpoint_auth_method, 'client_secret_basic')
})

t.test('client list and the admin view mark self-registered clients', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
  const agent = await selfRegistered(ctx)
  const vetted = await createClient(ctx, { name: 'Vetted' })
  const page = await listClients({ clients: ctx.repos.clients, clock: ctx.clock }, {})
  const flag = (id: string) => page.items.find((c) => c.client_id === id)?.self_registered
  t.equal(flag(agent.client_id), true)
  t.equal(flag(vetted.client_id), false)
})
