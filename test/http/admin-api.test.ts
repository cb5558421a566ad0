import t from 'tap'
import { addScope } from '../../src/admin/scopes.js'
import { encodeCursor } from '../../src/admin/paging.js'
import { logLines } from '../helpers/app.js'
import { dialects } from '../helpers/db.js'
import { adminCall, adminToken, buildAdminApp } from '../helpers/admin.js'
import { basic, createClient, createUser, exchange, obtainCode, PASSWORD } from '../helpers/oauth.js'

t.test('users: add, list, show, update, set the password, disable, enable, remove', async (t) => {
  const lines: string[] = []
  const ctx = await buildAdminApp(t, { logger: { level: 'warn', stream: logLines(lines) } })
  const { token, client: admin } = await adminToken(ctx)
  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) => adminCall(ctx, token, method, url, body)

  const added = await call('POST', '/users', { username: 'alice', password: PASSWORD, email: 'alice@example.com', name: 'Alice' })
  t.equal(added.statusCode, 201)
  t.same(Object.keys(added.json()).sort(), ['id', 'username'])
  t.equal(added.headers['cache-control'], 'no-store')
  t.equal((await call('POST', '/users', { username: 'alice', password: PASSWORD })).statusCode, 409, 'a taken username is a conflict')
  for (const name of ['bob', 'carol', 'dave']) await call('POST', '/users', { username: name, password: PASSWORD })

  const first = await call('GET', '/users?limit=2')
  t.equal(first.statusCode, 200)
  t.same(first.json().items.map((u: { username: string }) => u.username), ['alice', 'bob'])
  t.type(first.json().next, 'string')
  const second = await call('GET', `/users?limit=2&after=${first.json().next}`)
  t.same(second.json(), { items: second.json().items, next: null })
  t.same(second.json().items.map((u: { username: string }) => u.username), ['carol', 'dave'])
  t.same((await call('GET', '/users?search=EXAMPLE.com')).json().items.map((u: { username: string }) => u.username), ['alice'], 'search: email, case-insensitive')

  const shown = await call('GET', '/users/alice')
  t.match(shown.json(), { id: added.json().id, username: 'alice', email: 'alice@example.com', name: 'Alice', disabled: false, disabled_at: null, created_at: /^\d{4}-\d\d-\d\dT/ })
  t.equal((await call('GET', '/users/nobody')).statusCode, 404)
  t.same((await call('GET', '/users/nobody')).json(), { error: 'not_found', error_description: 'no user "nobody"' })

  const updated = await call('PATCH', '/users/alice', { username: 'alice2', name: '' })
  t.equal(updated.statusCode, 200)
  t.match(updated.json(), { username: 'alice2', name: null, email: 'alice@example.com' })
  t.equal((await call('PATCH', '/users/alice2', { username: 'bob' })).statusCode, 409)
  t.equal((await call('PATCH', '/users/alice2', {})).statusCode, 400, 'nothing to update')

  t.equal((await call('PUT', '/users/alice2/password', { password: 'short' })).statusCode, 400)
  t.equal((await call('PUT', '/users/alice2/password', { password: 'a new password' })).statusCode, 200)
  const web = await createClient(ctx, { grants: ['password'], redirectUris: [], scope: 'openid' })
  const auth = { authorization: basic(web.client_id, web.client_secret as string) }
  t.equal((await exchange(ctx.app, { grant_type: 'password', username: 'alice2', password: 'a new password' }, auth)).statusCode, 200, 'the new password works')

  const disabled = await call('POST', '/users/alice2/disable')
  t.match(disabled.json(), { disabled: true, disabled_at: /T/ })
  const refused = await exchange(ctx.app, { grant_type: 'password', username: 'alice2', password: 'a new password' }, auth)
  t.equal(refused.statusCode, 400)
  t.same(refused.json().error, 'invalid_grant', 'a disabled user fails as a wrong password does')
  const wrong = await exchange(ctx.app, { grant_type: 'password', username: 'bob', password: 'not the password' }, auth)
  t.same(refused.json(), wrong.json(), 'the same answer: nothing tells the account is disabled')
  // A password-grant token without a refresh token is not recorded: /introspect asks the user.
  const issued = (await exchange(ctx.app, { grant_type: 'password', username: 'bob', password: PASSWORD }, auth)).json() as { access_token: string }
  const introspect = () => ctx.app.inject({ method: 'POST', url: '/introspect', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${issued.access_token}` })
  t.equal((await introspect()).json().active, true)
  await call('POST', '/users/bob/disable')
  t.same((await introspect()).json(), { active: false }, "a disabled user's token is inactive")
  await call('POST', '/users/bob/enable')
  t.equal((await introspect()).json().active, true)
  t.equal((await call('POST', '/users/alice2/disable')).statusCode, 200, 'disabling again changes nothing')
  t.match((await call('POST', '/users/alice2/enable')).json(), { disabled: false, disabled_at: null })
  t.equal((await exchange(ctx.app, { grant_type: 'password', username: 'alice2', password: 'a new password' }, auth)).statusCode, 200, 'enabled again')

  const removed = await call('DELETE', '/users/alice2')
  t.same(removed.json(), { id: added.json().id, username: 'alice2' })
  t.equal((await call('GET', '/users/alice2')).statusCode, 404)
  t.equal((await call('DELETE', '/users/alice2')).statusCode, 404)

  const audit = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true && line.actor !== undefined)
  const events = audit.map((line) => line.event)
  for (const event of ['user_created', 'user_updated', 'user_password_set', 'user_disabled', 'user_enabled', 'user_removed']) t.ok(events.includes(event), event)
  t.ok(audit.every((line) => line.actor === admin.client_id), 'every change names the acting client')
  t.equal(events.filter((e) => e === 'user_disabled').length, 2, 'alice and bob once each: a repeated disable is no event')
  t.match(audit.find((line) => line.event === 'user_updated'), { fields: ['username', 'name'], requestId: String })
  t.notMatch(lines.join('\n'), /a new password|correct horse/, 'no password in the log')
})

t.test('validation: bad bodies, queries and cursors are 400 invalid_request, nothing written', async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['POST', '/users', { username: 'x' }, /password/],
    ['POST', '/users', { username: 'x', password: PASSWORD, extra: 1 }, /additional/],
    ['POST', '/users', { username: ' x', password: PASSWORD }, /username must be/],
    ['POST', '/users', { username: 'x', password: PASSWORD, email: 'nope' }, /not an email/],
    ['GET', '/users?limit=0', undefined, /--limit must be an integer from 1 to 500/],
    ['GET', '/users?limit=501', undefined, /--limit/],
    ['GET', '/users?limit=ten', undefined, /querystring/],
    ['GET', '/users?after=%25%25', undefined, /not a cursor/],
    ['GET', '/users?colour=red', undefined, /additional/],
    ['POST', '/clients', { name: 'x', grants: ['implicit'] }, /unknown grant/],
    ['POST', '/clients', { name: 'x', scope: 'latchkey:admin', grants: ['client_credentials'] }, /reserved/],
    ['PUT', '/scopes/latchkey:admin', { description: 'mine' }, /reserved/],
    ['POST', '/clients', { name: 'x', redirect_uris: ['http://evil.example.com/cb'] }, /redirect-uri/],
    ['PUT', '/scopes/reports', { description: ' ' }, /--description must be 1 to 1000/],
    ['GET', `/users?search=${'x'.repeat(256)}`, undefined, /--search must be at most 255/],
  ]
  for (const [method, url, body, description] of cases) {
    const res = await adminCall(ctx, token, method as 'GET', url, body)
    t.equal(res.statusCode, 400, `${method} ${url}`)
    t.equal(res.json().error, 'invalid_request')
    t.match(res.json().error_description, description)
  }
  const form = await ctx.app.inject({ method: 'POST', url: '/admin/v1/users', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=x&password=yyyyyyyyyy' })
  t.equal(form.statusCode, 415, 'JSON only')
  const broken = await ctx.app.inject({ method: 'POST', url: '/admin/v1/users', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{"username":' })
  t.equal(broken.statusCode, 400)
  t.equal((await ctx.store.db.selectFrom('users').selectAll().execute()).length, 0, 'no user was written')
})

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: control characters (NUL above all, which PostgreSQL refuses) are 400 invalid_request, never 500`, async (t) => {
    const ctx = await buildAdminApp(t, { dialect })
    const { token, client } = await adminToken(ctx)
    await createUser(ctx)
    await addScope({ scopes: ctx.repos.scopes }, { name: 'reports', description: 'Reports' })
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['GET', '/users?search=a%00b', undefined, /search must not contain control characters/],
      ['GET', `/users?after=${encodeCursor('a\u0000b')}`, undefined, /after must not contain control characters/],
      ['GET', '/clients?search=%1B', undefined, /search/],
      ['GET', '/users/al%00ice', undefined, /username must not contain control characters/],
      ['DELETE', '/users/al%00ice/sessions', undefined, /username/],
      ['DELETE', `/users/alice/grants?client_id=${client.client_id}%00`, undefined, /client_id/],
      ['POST', '/users', { username: 'bob', password: PASSWORD, name: 'B\u0000b' }, /name must not contain control characters/],
      ['PATCH', '/users/alice', { email: 'alice\u0000@example.com' }, /email/],
      ['PATCH', '/users/alice', { name: 'Alice\nLiddell' }, /name/],
      ['GET', '/clients/lk_%00', undefined, /client_id must not contain control characters/],
      ['POST', '/clients', { name: 'App\u0000' }, /name must not contain control characters/],
      ['PATCH', `/clients/${client.client_id}`, { redirect_uris: ['https://app.example.com/cb\u0000'] }, /redirect_uris/],
      ['PUT', '/scopes/reports', { description: 'Rep\u0000orts' }, /description must not contain control characters/],
      ['DELETE', '/scopes/rep%00orts', undefined, /name must not contain control characters/],
    ]
    for (const [method, url, body, description] of cases) {
      const res = await adminCall(ctx, token, method as 'GET', url, body)
      t.equal(res.statusCode, 400, `${method} ${url}`)
      t.equal(res.json().error, 'invalid_request', `${method} ${url}`)
      t.match(res.json().error_description, description, `${method} ${url}`)
    }
    t.same((await ctx.store.db.selectFrom('users').select('username').execute()).map((u) => u.username), ['alice'], 'nothing written')
    t.equal((await ctx.repos.scopes.findByNames(['reports']))[0]?.description, 'Reports')
  })
}

t.test('clients: add, list, show, update, rotate the secret with a grace period, remove', async (t) => {
  const ctx = await buildAdminApp(t)
  const { token, client: admin } = await adminToken(ctx)
  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) => adminCall(ctx, token, method, url, body)

  const added = await call('POST', '/clients', { name: 'Billing', grants: ['client_credentials'], scope: '' })
  t.equal(added.statusCode, 201)
  const { client_id: id, client_secret: secret } = added.json() as { client_id: string; client_secret: string }
  t.match(id, /^lk_/)
  t.equal((await call('POST', '/clients', { name: 'Spa', public: true, redirect_uris: ['https://spa.example.com/cb'] })).json().client_secret, undefined)

  const list = await call('GET', '/clients?search=bill')
  t.same(list.json().items.map((c: { client_id: string }) => c.client_id), [id])
  t.equal((await call('GET', '/clients?limit=500')).json().items.length, 3, 'the admin client, Billing and Spa')
  t.match((await call('GET', `/clients/${id}`)).json(), { client_id: id, name: 'Billing', public: false, admin: false, grants: ['client_credentials'], scopes: [], previous_secret_expires_at: null })
  t.match((await call('GET', `/clients/${admin.client_id}`)).json(), { admin: true, scopes: ['latchkey:admin'], resources: [`${ctx.config.issuer}/admin/v1`] })
  t.equal((await call('GET', '/clients/lk_nope')).statusCode, 404)

  const updated = await call('PATCH', `/clients/${id}`, { name: 'Billing v2', grants: ['client_credentials', 'authorization_code'], redirect_uris: ['https://billing.example.com/cb'] })
  t.equal(updated.statusCode, 200)
  t.match(updated.json(), { name: 'Billing v2', grants: ['client_credentials', 'authorization_code'], redirect_uris: ['https://billing.example.com/cb'] })
  t.match((await call('GET', `/clients/${id}`)).json(), { require_mfa: false })
  t.match((await call('PATCH', `/clients/${id}`, { require_mfa: true })).json(), { require_mfa: true, name: 'Billing v2' })
  t.match((await call('GET', `/clients/${id}`)).json(), { require_mfa: true })
  t.equal((await call('PATCH', `/clients/${id}`, { require_mfa: 'yes' })).statusCode, 400, 'a boolean')
  const strict = await call('POST', '/clients', { name: 'Bank', redirect_uris: ['https://bank.example.com/cb'], require_mfa: true })
  t.match((await call('GET', `/clients/${(strict.json() as { client_id: string }).client_id}`)).json(), { require_mfa: true })
  await call('PATCH', `/clients/${id}`, { require_mfa: false })
  const invalid = await call('PATCH', `/clients/${id}`, { redirect_uris: [] })
  t.equal(invalid.statusCode, 400, 'the rules of client add apply to the result')
  t.match(invalid.json().error_description, /--redirect-uri is required/)
  t.equal((await call('GET', `/clients/${id}`)).json().redirect_uris.length, 1, 'and nothing changed')

  const old = { authorization: basic(id, secret) }
  const rotated = await call('POST', `/clients/${id}/rotate-secret`, { grace_seconds: 300 })
  t.equal(rotated.statusCode, 200)
  const fresh = { authorization: basic(id, rotated.json().client_secret) }
  t.equal(rotated.json().previous_secret_expires_at, new Date(ctx.clock.now() + 300_000).toISOString())
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, old)).statusCode, 200, 'the old secret during the grace period')
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, fresh)).statusCode, 200, 'the new one')
  ctx.clock.advance(300)
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, old)).statusCode, 401, 'the old one after it')
  t.equal((await call('GET', `/clients/${id}`)).json().previous_secret_expires_at, null, 'an ended grace period is not shown')
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, fresh)).statusCode, 200)
  const { token: token2 } = await adminToken(ctx)
  const now = await adminCall(ctx, token2, 'POST', `/clients/${id}/rotate-secret`)
  t.equal(now.json().previous_secret_expires_at, null)
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, fresh)).statusCode, 401, 'without grace the old secret stops at once')
  t.equal((await adminCall(ctx, token2, 'POST', `/clients/${id}/rotate-secret`, { grace_seconds: -1 })).statusCode, 400)
  t.equal((await adminCall(ctx, token2, 'POST', `/clients/${id}/rotate-secret`, { grace_seconds: 2_592_001 })).statusCode, 400)

  t.same((await adminCall(ctx, token2, 'DELETE', `/clients/${id}`)).json(), { client_id: id })
  t.equal((await adminCall(ctx, token2, 'GET', `/clients/${id}`)).statusCode, 404)
  t.equal((await exchange(ctx.app, { grant_type: 'client_credentials' }, { authorization: basic(id, now.json().client_secret) })).statusCode, 401, 'a removed client cannot authenticate')
  t.equal((await adminCall(ctx, token2, 'DELETE', `/clients/${id}`)).statusCode, 404)
})

t.test("removing a client revokes its users' refresh tokens and the access tokens issued from them", async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  await createUser(ctx)
  const web = await createClient(ctx, { scope: 'openid offline_access' })
  const { code, verifier } = await obtainCode(ctx, web, { scope: 'openid offline_access' })
  const tokens = (await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: web.redirectUri, code_verifier: verifier }, { authorization: basic(web.client_id, web.client_secret as string) })).json() as { access_token: string }
  t.equal((await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 200)
  t.equal((await adminCall(ctx, token, 'DELETE', `/clients/${web.client_id}`)).statusCode, 200)
  const refused = await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(refused.statusCode, 401)
  t.match(refused.json().error_description, /revoked/)
  for (const table of ['consents', 'refresh_token_families', 'authorization_codes'] as const) {
    t.equal((await ctx.store.db.selectFrom(table).selectAll().execute()).length, 0, `no ${table} left`)
  }
})

t.test('scopes: list, add, remove; refused while a client uses it', async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  t.same((await adminCall(ctx, token, 'PUT', '/scopes/orders:read', { description: 'Read orders' })).json(), { name: 'orders:read', description: 'Read orders' })
  t.same((await adminCall(ctx, token, 'GET', '/scopes?search=order')).json(), { items: [{ name: 'orders:read', description: 'Read orders' }], next: null })
  t.equal((await adminCall(ctx, token, 'GET', '/scopes')).json().items.length, 5, 'the four built-in scopes and the new one')
  const users = []
  for (let i = 0; i < 6; i++) users.push(await createClient(ctx, { grants: ['client_credentials'], redirectUris: [], scope: 'orders:read' }))
  const user = users[0] as { client_id: string }
  const inUse = await adminCall(ctx, token, 'DELETE', '/scopes/orders:read')
  t.equal(inUse.statusCode, 409)
  t.match(inUse.json(), { error: 'conflict', error_description: /used by client\(s\) (lk_\S+, ){5}…: remove it/ })
  for (const other of users.slice(1)) await adminCall(ctx, token, 'PATCH', `/clients/${other.client_id}`, { scope: '' })
  t.match((await adminCall(ctx, token, 'DELETE', '/scopes/orders:read')).json().error_description, new RegExp(`used by client\\(s\\) ${user.client_id}: remove`))
  t.equal((await adminCall(ctx, token, 'DELETE', '/scopes/openid')).statusCode, 400, 'built in')
  await adminCall(ctx, token, 'PATCH', `/clients/${user.client_id}`, { scope: '' })
  t.equal((await adminCall(ctx, token, 'DELETE', '/scopes/orders:read')).statusCode, 200)
  t.equal((await adminCall(ctx, token, 'DELETE', '/scopes/orders:read')).statusCode, 404)
})

t.test("grants and sessions: a user's consents, families and sign-ins, listed and revoked", async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  await createUser(ctx)
  const web = await createClient(ctx, { scope: 'openid offline_access' })
  const other = await createClient(ctx, { name: 'Other', scope: 'openid' })
  const { code, verifier, browser } = await obtainCode(ctx, web, { scope: 'openid offline_access' })
  const tokens = (await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: web.redirectUri, code_verifier: verifier }, { authorization: basic(web.client_id, web.client_secret as string) })).json() as { access_token: string; refresh_token: string }
  await obtainCode(ctx, other, { scope: 'openid' }, browser)

  const grants = await adminCall(ctx, token, 'GET', '/users/alice/grants')
  t.equal(grants.statusCode, 200)
  const items = grants.json().items as Array<{ client_id: string; consents: unknown[]; refresh_token_families: unknown[] }>
  t.same(items.map((g) => g.client_id).sort(), [web.client_id, other.client_id].sort())
  t.match(items.find((g) => g.client_id === web.client_id), { client_name: 'Example App', consents: [{ resource: ctx.config.defaultAudience, scopes: ['openid', 'offline_access'] }], refresh_token_families: [{ scopes: ['openid', 'offline_access'] }] })
  const paged = await adminCall(ctx, token, 'GET', '/users/alice/grants?limit=1')
  t.equal(paged.json().items.length, 1)
  t.equal((await adminCall(ctx, token, 'GET', `/users/alice/grants?limit=1&after=${paged.json().next}`)).json().next, null)

  // search: a grant's client_id or client name; a session has nothing to search by (refused).
  t.same((await adminCall(ctx, token, 'GET', '/users/alice/grants?search=oTHE')).json().items.map((g: { client_id: string }) => g.client_id), [other.client_id])
  t.same((await adminCall(ctx, token, 'GET', `/users/alice/grants?search=${web.client_id.slice(3, 9)}`)).json().items.map((g: { client_id: string }) => g.client_id), [web.client_id])
  t.same((await adminCall(ctx, token, 'GET', '/users/alice/grants?search=nothing-like-it')).json(), { items: [], next: null })
  const searched = await adminCall(ctx, token, 'GET', '/users/alice/sessions?search=x')
  t.equal(searched.statusCode, 400)
  t.equal(searched.json().error, 'invalid_request')
  t.match(searched.json().error_description, /additional properties/)
  const sessions = await adminCall(ctx, token, 'GET', '/users/alice/sessions')
  t.equal(sessions.json().items.length, 1)
  t.match(sessions.json().items[0], { created_at: String, auth_time: String, expires_at: String })

  const revoked = await adminCall(ctx, token, 'DELETE', `/users/alice/grants?client_id=${web.client_id}`)
  t.same(revoked.json(), { revoked: { consents: 1, refresh_token_families: 1 } })
  const refresh = await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(web.client_id, web.client_secret as string) })
  t.equal(refresh.json().error, 'invalid_grant', 'the refresh token is revoked')
  t.equal((await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 401, 'and the access token from it')
  t.same((await adminCall(ctx, token, 'GET', '/users/alice/grants')).json().items.map((g: { client_id: string }) => g.client_id), [other.client_id])
  t.equal((await adminCall(ctx, token, 'DELETE', '/users/alice/grants?client_id=lk_nope')).statusCode, 404)

  t.same((await adminCall(ctx, token, 'DELETE', '/users/alice/sessions')).json(), { ended: 1 })
  t.same((await adminCall(ctx, token, 'GET', '/users/alice/sessions')).json(), { items: [], next: null })
  const again = await browser.get(`/authorize?response_type=code&client_id=${other.client_id}&redirect_uri=${encodeURIComponent(other.redirectUri)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`)
  t.match(again.body, /name="password"/, 'the browser must sign in again')
  t.same((await adminCall(ctx, token, 'DELETE', '/users/alice/grants')).json(), { revoked: { consents: 1, refresh_token_families: 0 } })
  t.equal((await adminCall(ctx, token, 'GET', '/users/nobody/sessions')).statusCode, 404)
})

t.test('disabling a user revokes their refresh tokens, ends their sessions and refuses /userinfo', async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  await createUser(ctx)
  const web = await createClient(ctx, { scope: 'openid offline_access' })
  const auth = { authorization: basic(web.client_id, web.client_secret as string) }
  const { code, verifier, browser } = await obtainCode(ctx, web, { scope: 'openid offline_access' })
  const tokens = (await exchange(ctx.app, { grant_type: 'authorization_code', code, redirect_uri: web.redirectUri, code_verifier: verifier }, auth)).json() as { access_token: string; refresh_token: string }
  t.equal((await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 200)

  t.equal((await adminCall(ctx, token, 'POST', '/users/alice/disable')).statusCode, 200)
  const userinfo = await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(userinfo.statusCode, 401)
  t.match(userinfo.headers['www-authenticate'], /invalid_token/)
  t.equal((await exchange(ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, auth)).json().error, 'invalid_grant')
  t.equal((await ctx.store.db.selectFrom('login_sessions').selectAll().execute()).length, 0, 'sessions ended')
  // The login page: the same generic failure as a wrong password.
  const page = await browser.get(`/authorize?response_type=code&client_id=${web.client_id}&redirect_uri=${encodeURIComponent(web.redirectUri)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`)
  const { signIn } = await import('../helpers/oauth.js')
  const disabledTry = await signIn(browser, page)
  const wrongTry = await signIn(browser, page, 'alice', 'not the password')
  t.equal(disabledTry.statusCode, 401)
  t.equal(disabledTry.body.replace(/value="[^"]*"/g, ''), wrongTry.body.replace(/value="[^"]*"/g, ''), 'the same page as a wrong password')

  // Enabled again, the old tokens stay revoked; a new sign-in works.
  await adminCall(ctx, token, 'POST', '/users/alice/enable')
  t.equal((await ctx.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 401)
  t.ok((await obtainCode(ctx, web, { scope: 'openid' })).code)
})

t.test('keys and the OpenAPI document', async (t) => {
  const ctx = await buildAdminApp(t)
  const { token } = await adminToken(ctx)
  const keys = await adminCall(ctx, token, 'GET', '/keys')
  t.equal(keys.statusCode, 200)
  t.same(keys.json(), { items: ctx.keys.list(), next: null })

  await addScope({ scopes: ctx.repos.scopes }, { name: 'unused', description: 'x' })
  const doc = await ctx.app.inject('/admin/v1/openapi.json')
  t.equal(doc.statusCode, 200, 'served without a token: it holds no data')
  const api = doc.json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>; servers: Array<{ url: string }>; components: { securitySchemes: Record<string, unknown> } }
  t.equal(api.openapi, '3.1.0')
  t.same(api.servers, [{ url: 'http://localhost:3000/admin/v1' }])
  t.same(Object.keys(api.paths).sort(), [
    '/clients', '/clients/{client_id}', '/clients/{client_id}/rotate-secret', '/keys', '/scopes', '/scopes/{name}',
    '/users', '/users/{username}', '/users/{username}/disable', '/users/{username}/enable', '/users/{username}/grants',
    '/users/{username}/password', '/users/{username}/sessions',
  ])
  t.same(Object.keys(api.paths['/users/{username}'] ?? {}).sort(), ['delete', 'get', 'patch'])
  t.ok(api.paths['/users']?.get?.responses['200'], 'responses come from the route schemas')
  t.match(api.components.securitySchemes, { adminToken: { type: 'http', scheme: 'bearer' } })
})
