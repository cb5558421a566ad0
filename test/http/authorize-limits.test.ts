import t, { type Test } from 'tap'
import { MAX_PARAMETER_LENGTHS } from '../../src/authorization/request.js'
import { MAX_OPEN_TRANSACTIONS_PER_ADDRESS, TRANSACTION_TTL_MS } from '../../src/authorization/transactions.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { authorizeUrl, createClient, newPkce, redirectParams } from '../helpers/oauth.js'

// A registered redirect URI of exactly the longest length accepted.
const LONG_REDIRECT_URI = `https://app.example.com/cb?${'p'.repeat(MAX_PARAMETER_LENGTHS.redirect_uri - 'https://app.example.com/cb?'.length)}`

async function setup(t: Test) {
  const ctx = await buildTestApp(t)
  const client = await createClient(ctx, { scope: 'openid profile email offline_access', redirectUris: ['https://app.example.com/cb', LONG_REDIRECT_URI] })
  const base = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirectUri,
    state: 's1',
    code_challenge: newPkce().challenge,
    code_challenge_method: 'S256',
  }
  return { ctx, client, base }
}

async function storedTransactions(ctx: TestApp): Promise<number> {
  const row = await ctx.store.db.selectFrom('authorization_transactions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

/** A scope of registered names, `openid` and `email` repeated to make up the length (35 + 7n + 6m). */
function scope(openids: number, emails: number): string {
  return `openid profile email offline_access${' openid'.repeat(openids)}${' email'.repeat(emails)}`
}
const LONGEST_SCOPE = scope(575, 6)
const TOO_LONG_SCOPE = scope(576, 5)

eachDialect(t, (t) => {
  t.test('values at the limits are accepted', async (t) => {
    const { ctx, base } = await setup(t)
    const res = await ctx.app.inject(
      authorizeUrl({
        ...base,
        redirect_uri: LONG_REDIRECT_URI,
        state: 's'.repeat(MAX_PARAMETER_LENGTHS.state),
        nonce: 'n'.repeat(MAX_PARAMETER_LENGTHS.nonce),
        login_hint: 'h'.repeat(MAX_PARAMETER_LENGTHS.login_hint),
        scope: LONGEST_SCOPE,
      }),
    )
    t.equal(LONGEST_SCOPE.length, MAX_PARAMETER_LENGTHS.scope)
    t.equal(TOO_LONG_SCOPE.length, MAX_PARAMETER_LENGTHS.scope + 1)
    t.equal(res.statusCode, 200, 'the login page')
    t.match(res.body, /name="password"/)
    t.equal(await storedTransactions(ctx), 1)
  })

  t.test('an over-long redirect_uri renders an error page before anything else, and stores nothing', async (t) => {
    const { ctx, base } = await setup(t)
    const res = await ctx.app.inject(authorizeUrl({ ...base, redirect_uri: `${LONG_REDIRECT_URI}p` }))
    t.equal(res.statusCode, 400)
    t.notOk(res.headers.location, 'never redirects')
    t.match(res.body, /redirect_uri is longer than 2048 characters/)
    t.equal(await storedTransactions(ctx), 0)
  })

  t.test('an over-long state is refused by redirect, without echoing it, and nothing is stored', async (t) => {
    const { ctx, base, client } = await setup(t)
    const res = await ctx.app.inject(authorizeUrl({ ...base, state: 's'.repeat(MAX_PARAMETER_LENGTHS.state + 1), response_type: undefined }))
    t.equal(res.statusCode, 302)
    const location = new URL(res.headers.location as string)
    t.equal(`${location.origin}${location.pathname}`, client.redirectUri)
    t.equal(location.searchParams.get('error'), 'invalid_request')
    t.match(location.searchParams.get('error_description'), /state is longer than 1024 characters/, 'checked before the other parameters')
    t.equal(location.searchParams.get('state'), null, 'not echoed')
    t.equal(location.searchParams.get('iss'), 'http://localhost:3000')
    t.ok((res.headers.location as string).length < 300)
    t.equal(await storedTransactions(ctx), 0)
  })

  const overLong: Array<[string, string]> = [
    ['nonce', 'n'.repeat(MAX_PARAMETER_LENGTHS.nonce + 1)],
    ['login_hint', 'h'.repeat(MAX_PARAMETER_LENGTHS.login_hint + 1)],
    ['scope', TOO_LONG_SCOPE],
    ['resource', `https://api.example.com/${'r'.repeat(MAX_PARAMETER_LENGTHS.resource)}`],
  ]

  for (const [name, value] of overLong) {
    t.test(`an over-long ${name} is refused by redirect with state, and nothing is stored`, async (t) => {
      const { ctx, base } = await setup(t)
      t.ok(value.length > MAX_PARAMETER_LENGTHS[name as keyof typeof MAX_PARAMETER_LENGTHS])
      const res = await ctx.app.inject(authorizeUrl({ ...base, [name]: value }))
      t.equal(res.statusCode, 302)
      const params = redirectParams(res)
      t.equal(params.get('error'), 'invalid_request')
      t.match(params.get('error_description'), new RegExp(`^${name} is longer than \\d+ characters$`))
      t.equal(params.get('state'), 's1')
      t.equal(await storedTransactions(ctx), 0)
    })
  }

  t.test('code_challenge and max_age are bounded by their formats, and nothing is stored', async (t) => {
    const { ctx, base } = await setup(t)
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ code_challenge: 'a'.repeat(4096) }, /43 base64url/],
      [{ max_age: '9'.repeat(11) }, /max_age/],
    ]
    for (const [change, description] of cases) {
      const params = redirectParams(await ctx.app.inject(authorizeUrl({ ...base, ...change })))
      t.equal(params.get('error'), 'invalid_request')
      t.match(params.get('error_description'), description)
    }
    t.equal(await storedTransactions(ctx), 0)
  })

  t.test('one address holds at most MAX_OPEN_TRANSACTIONS_PER_ADDRESS open transactions: then 429 and Retry-After', async (t) => {
    const { ctx, base, client } = await setup(t)
    const url = authorizeUrl(base)
    // All but the last place taken by earlier requests of the same /64, stored directly to keep the test fast.
    const now = ctx.clock.now()
    const earlier = Array.from({ length: MAX_OPEN_TRANSACTIONS_PER_ADDRESS - 1 }, (_, i) => ({
      id: `earlier-${i}`, browser_hash: 'b', csrf_hash: 'c', client_id: client.client_id, redirect_uri: client.redirectUri, state: null,
      scopes: '[]', resource: 'https://api.example.com', code_challenge: null, code_challenge_method: null, force_consent: 0, user_id: null,
      auth_time: null, created_at: now, expires_at: now + TRANSACTION_TTL_MS, completed_at: null, nonce: null, login_hint: null, max_age: null,
      address: '2001:db8:1:2::/64',
    }))
    for (let i = 0; i < earlier.length; i += 100) await ctx.store.db.insertInto('authorization_transactions').values(earlier.slice(i, i + 100)).execute()
    const last = await ctx.app.inject({ url, remoteAddress: '2001:db8:1:2::1' })
    t.equal(last.statusCode, 200, 'the last place')

    ctx.clock.advance(60)
    const refused = await ctx.app.inject({ url, remoteAddress: '2001:db8:1:2::99' })
    t.equal(refused.statusCode, 429, 'the same /64')
    t.equal(refused.headers['retry-after'], '540', 'until the first of them expires')
    t.match(refused.headers['content-type'], /text\/html/, 'an error page')
    t.notOk(refused.headers.location, 'never redirects')
    t.equal(refused.headers['cache-control'], 'no-store')
    t.equal(refused.headers['x-frame-options'], 'DENY')
    t.match(refused.body, /too many sign-in requests/)
    t.equal(await storedTransactions(ctx), MAX_OPEN_TRANSACTIONS_PER_ADDRESS, 'nothing stored')

    const other = await ctx.app.inject({ url, remoteAddress: '192.0.2.1' })
    t.equal(other.statusCode, 200, 'another address is not affected')

    ctx.clock.advance(540)
    const later = await ctx.app.inject({ url, remoteAddress: '2001:db8:1:2::1' })
    t.equal(later.statusCode, 200, 'once they expire the address may start again')
  })
})
