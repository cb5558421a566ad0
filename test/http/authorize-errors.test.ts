import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { authorizeUrl, createClient, newPkce, redirectParams } from '../helpers/oauth.js'

async function setup(t: Test, env: Record<string, string> = {}) {
  const ctx = await buildTestApp(t, { env })
  const client = await createClient(ctx, { scope: 'openid profile' })
  const pkce = newPkce()
  const base = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirectUri,
    state: 's1',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  }
  return { ctx, client, base }
}

function assertErrorPage(t: Test, res: { statusCode: number; headers: Record<string, unknown>; body: string }, pattern: RegExp) {
  t.equal(res.statusCode, 400)
  t.notOk(res.headers.location, 'never redirects')
  t.match(res.headers['content-type'], /text\/html/)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.equal(res.headers['content-security-policy'], "default-src 'self'; frame-ancestors 'none'")
  t.match(res.body, pattern)
}

eachDialect(t, (t) => {
  t.test('an unknown, missing or repeated client_id renders an error page and never redirects', async (t) => {
    const { ctx, base } = await setup(t)
    assertErrorPage(t, await ctx.app.inject(authorizeUrl({ ...base, client_id: 'lk_nope' })), /unknown client/)
    assertErrorPage(t, await ctx.app.inject(authorizeUrl({ ...base, client_id: undefined })), /client_id is required/)
    assertErrorPage(t, await ctx.app.inject(`${authorizeUrl(base)}&client_id=${base.client_id}`), /client_id was sent more than once/)
  })

  t.test('a missing, unregistered or repeated redirect_uri renders an error page and never redirects', async (t) => {
    const { ctx, base } = await setup(t)
    assertErrorPage(t, await ctx.app.inject(authorizeUrl({ ...base, redirect_uri: undefined })), /redirect_uri is required/)
    for (const uri of ['https://evil.example.com/cb', 'https://app.example.com/cb/', 'https://app.example.com/cb?x=1', 'https://APP.example.com/cb']) {
      assertErrorPage(t, await ctx.app.inject(authorizeUrl({ ...base, redirect_uri: uri })), /not registered/)
    }
    assertErrorPage(t, await ctx.app.inject(`${authorizeUrl(base)}&redirect_uri=x`), /more than once/)
  })

  t.test('the loopback port may vary only for public clients', async (t) => {
    const ctx = await buildTestApp(t)
    const pkce = newPkce()
    const confidential = await createClient(ctx, { redirectUris: ['http://127.0.0.1:8080/cb'] })
    const params = { response_type: 'code', client_id: confidential.client_id, redirect_uri: 'http://127.0.0.1:9090/cb', code_challenge: pkce.challenge, code_challenge_method: 'S256' }
    assertErrorPage(t, await ctx.app.inject(authorizeUrl(params)), /not registered/)
    const localhost = await createClient(ctx, { isPublic: true, redirectUris: ['http://localhost:8080/cb'] })
    assertErrorPage(t, await ctx.app.inject(authorizeUrl({ ...params, client_id: localhost.client_id, redirect_uri: 'http://localhost:9090/cb' })), /not registered/)
  })

  const redirectCases: Array<[string, Record<string, string | undefined>, string, RegExp | undefined]> = [
    ['response_type missing', { response_type: undefined }, 'invalid_request', /response_type is required/],
    ['response_type=token', { response_type: 'token' }, 'unsupported_response_type', undefined],
    ['response_type=code id_token', { response_type: 'code id_token' }, 'unsupported_response_type', undefined],
    ['code_challenge missing', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request', /code_challenge is required/],
    ['method missing', { code_challenge_method: undefined }, 'invalid_request', /method is required/],
    ['method plain', { code_challenge_method: 'plain' }, 'invalid_request', /S256/],
    ['challenge too short', { code_challenge: 'abc' }, 'invalid_request', /43 base64url/],
    ['challenge with bad characters', { code_challenge: `${'a'.repeat(42)}+` }, 'invalid_request', /43 base64url/],
    ['method without challenge', { code_challenge: undefined }, 'invalid_request', undefined],
    ['scope not allowed for the client', { scope: 'openid email' }, 'invalid_scope', /email/],
    ['unknown scope', { scope: 'openid admin' }, 'invalid_scope', undefined],
    ['malformed scope', { scope: 'openid "x' }, 'invalid_scope', undefined],
    ['relative resource', { resource: '/api' }, 'invalid_target', undefined],
    ['resource with a fragment', { resource: 'https://api.example.com/#x' }, 'invalid_target', undefined],
    ['unknown prompt', { prompt: 'bogus' }, 'invalid_request', /prompt/],
    ['prompt none with login', { prompt: 'none login' }, 'invalid_request', /prompt/],
  ]

  for (const [name, change, error, description] of redirectCases) {
    t.test(`redirects ${error} when ${name}`, async (t) => {
      const { ctx, base, client } = await setup(t)
      const res = await ctx.app.inject(authorizeUrl({ ...base, ...change }))
      t.equal(res.statusCode, 302)
      const location = new URL(res.headers.location as string)
      t.equal(`${location.origin}${location.pathname}`, client.redirectUri)
      t.equal(location.searchParams.get('error'), error)
      t.equal(location.searchParams.get('state'), 's1')
      t.equal(location.searchParams.get('iss'), 'http://localhost:3000')
      t.ok(location.searchParams.get('error_description'))
      if (description) t.match(location.searchParams.get('error_description'), description)
      t.notOk(location.searchParams.get('code'))
      t.equal(res.headers['cache-control'], 'no-store')
    })
  }

  t.test('a repeated parameter is invalid_request, a repeated resource invalid_target', async (t) => {
    const { ctx, base } = await setup(t)
    const dupScope = await ctx.app.inject(`${authorizeUrl({ ...base, scope: 'openid' })}&scope=profile`)
    t.equal(redirectParams(dupScope).get('error'), 'invalid_request')
    t.match(redirectParams(dupScope).get('error_description'), /scope/)
    const dupResource = await ctx.app.inject(`${authorizeUrl({ ...base, resource: 'https://a.example.com' })}&resource=https://b.example.com`)
    t.equal(redirectParams(dupResource).get('error'), 'invalid_target')
    const dupState = await ctx.app.inject(`${authorizeUrl(base)}&state=other`)
    t.equal(redirectParams(dupState).get('error'), 'invalid_request')
    t.equal(redirectParams(dupState).get('state'), null, 'an ambiguous state is not echoed')
  })

  t.test('empty parameters count as absent and unknown ones are ignored', async (t) => {
    const { ctx, base } = await setup(t)
    const res = await ctx.app.inject(authorizeUrl({ ...base, scope: '', nonsense: 'x' }))
    t.equal(res.statusCode, 200, 'login page: empty scope means the registered scopes')
  })

  t.test('a client not registered for authorization_code is unauthorized_client', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await createClient(ctx, { grants: ['refresh_token'] })
    const res = await ctx.app.inject(authorizeUrl({ response_type: 'code', client_id: client.client_id, redirect_uri: client.redirectUri, code_challenge: newPkce().challenge, code_challenge_method: 'S256' }))
    t.equal(redirectParams(res).get('error'), 'unauthorized_client')
  })

  t.test('PKCE_REQUIRED=public lets a confidential client omit PKCE but never a public one', async (t) => {
    const ctx = await buildTestApp(t, { env: { PKCE_REQUIRED: 'public' } })
    const confidential = await createClient(ctx)
    const ok = await ctx.app.inject(authorizeUrl({ response_type: 'code', client_id: confidential.client_id, redirect_uri: confidential.redirectUri }))
    t.equal(ok.statusCode, 200)
    t.match(ok.body, /name="password"/)
    const pub = await createClient(ctx, { isPublic: true })
    const res = await ctx.app.inject(authorizeUrl({ response_type: 'code', client_id: pub.client_id, redirect_uri: pub.redirectUri }))
    t.equal(redirectParams(res).get('error'), 'invalid_request')
    t.match(redirectParams(res).get('error_description'), /code_challenge is required/)
  })

  t.test('state is echoed verbatim and HTML in parameters is escaped on pages', async (t) => {
    const { ctx, base } = await setup(t)
    const res = await ctx.app.inject(authorizeUrl({ ...base, response_type: 'x', state: '<b>&"' }))
    t.equal(redirectParams(res).get('state'), '<b>&"')
    const page = await ctx.app.inject(authorizeUrl({ ...base, client_id: '<script>alert(1)</script>' }))
    t.equal(page.statusCode, 400)
    t.notMatch(page.body, /<script>/)
  })

  t.test('OPTIONS /authorize sends no CORS headers', async (t) => {
    const { ctx } = await setup(t)
    const res = await ctx.app.inject({ method: 'OPTIONS', url: '/authorize', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } })
    t.notOk(res.headers['access-control-allow-origin'])
  })

  t.test('POST /authorize answers a 303 to the GET with the same parameters, duplicates kept', async (t) => {
    const { ctx, base } = await setup(t)
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/authorize',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `${new URLSearchParams(base as Record<string, string>)}&scope=a&scope=b`,
    })
    t.equal(res.statusCode, 303)
    const location = new URL(res.headers.location as string, 'http://localhost:3000')
    t.equal(location.pathname, '/authorize')
    t.equal(location.searchParams.get('client_id'), base.client_id)
    t.same(location.searchParams.getAll('scope'), ['a', 'b'])
    const followed = await ctx.app.inject(res.headers.location as string)
    t.equal(redirectParams(followed).get('error'), 'invalid_request')
  })
})
