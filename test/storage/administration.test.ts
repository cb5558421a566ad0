import t from 'tap'
import { repositories, type Repositories } from '../../src/storage/repositories.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000

function user(n: number, fields: { username?: string; email?: string | null; name?: string | null } = {}) {
  return { id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, username: `user${n}`, passwordHash: 'h', email: null, name: null, createdAt: NOW, ...fields }
}

function client(id: string, scopes: string[] = ['openid']) {
  return { id, name: `App ${id}`, secretHash: 'a'.repeat(64), isPublic: false, redirectUris: [], postLogoutRedirectUris: [], grantTypes: ['client_credentials'], scopes, audience: null, resources: [], createdAt: NOW }
}

/** A family with one access token, a consent, a session, an unused code and a transaction for the user. */
async function holdings(repos: Repositories, store: { db: import('kysely').Kysely<import('../../src/storage/database.js').Database> }, userId: string, clientId: string, tag: string) {
  await repos.refreshTokens.createFamily({
    family: { id: `fam-${tag}`, clientId, userId, scopes: ['openid'], audience: 'https://api', authTime: NOW, amr: ['pwd'], beganWithOpenid: true, createdAt: NOW, revokedAt: null },
    token: { tokenHash: `rt-${tag}`, familyId: `fam-${tag}`, createdAt: NOW, expiresAt: NOW + 1e6, rotatedAt: null },
    accessToken: { jti: `jti-${tag}`, clientId, codeId: null, familyId: `fam-${tag}`, createdAt: NOW, expiresAt: NOW + 1e6 },
  })
  await repos.consents.grant(clientId, userId, 'https://api', ['openid'], NOW)
  await repos.sessions.create({ idHash: `sess-${tag}`.padEnd(64, '0'), userId, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 1e6 })
  await store.db.insertInto('authorization_codes').values({ id: `code-${tag}`, code_hash: `ch-${tag}`, client_id: clientId, user_id: userId, redirect_uri: 'https://a/cb', scopes: '[]', resource: 'https://api', code_challenge: null, code_challenge_method: null, auth_time: NOW, created_at: NOW, expires_at: NOW + 60_000, used_at: null, family_id: null, nonce: null }).execute()
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: administration storage`, async (t) => {
    t.test('users: keyset pages by username, search in username, email or name, LIKE wildcards literal', async (t) => {
      const repos = repositories(await dialect.open(t))
      await repos.users.create(user(1, { username: 'carol', email: 'Carol@Example.com' }))
      await repos.users.create(user(2, { username: 'alice', name: '100% Alice' }))
      await repos.users.create(user(3, { username: 'bob_b' }))
      await repos.users.create(user(4, { username: 'bobxb' }))
      t.same((await repos.users.list({ limit: 2 })).map((u) => u.username), ['alice', 'bob_b'])
      t.same((await repos.users.list({ limit: 10, after: 'bob_b' })).map((u) => u.username), ['bobxb', 'carol'])
      t.same((await repos.users.list({ limit: 10, search: 'example.COM' })).map((u) => u.username), ['carol'], 'email, any case')
      t.same((await repos.users.list({ limit: 10, search: '100%' })).map((u) => u.username), ['alice'], 'name; % is literal')
      t.same((await repos.users.list({ limit: 10, search: 'b_b' })).map((u) => u.username), ['bob_b'], '_ is literal')
      t.equal((await repos.users.findByUsername('alice'))?.disabledAt, null)
    })

    t.test('users: update, disable (ending everything in one go), enable, remove (deleting everything)', async (t) => {
      const store = await dialect.open(t)
      const repos = repositories(store)
      await repos.users.create(user(1))
      await repos.users.create(user(2))
      await repos.clients.create(client('lk_a'))
      await holdings(repos, store, user(1).id, 'lk_a', '1')
      await holdings(repos, store, user(2).id, 'lk_a', '2')

      await repos.users.update(user(1).id, { username: 'renamed', email: 'r@example.com', name: null })
      t.match(await repos.users.findById(user(1).id), { username: 'renamed', email: 'r@example.com', name: null })
      await t.rejects(repos.users.update(user(1).id, { username: 'user2' }), 'usernames stay unique')
      await repos.users.update(user(1).id, {})
      t.match(await repos.users.findById(user(1).id), { username: 'renamed' }, 'no change, no error')

      t.equal(await repos.users.disable(user(1).id, NOW + 5), true)
      t.equal(await repos.users.disable(user(1).id, NOW + 6), false, 'already disabled')
      t.equal((await repos.users.findById(user(1).id))?.disabledAt, NOW + 5)
      t.equal((await repos.refreshTokens.findFamily('fam-1'))?.revokedAt, NOW + 5, 'family revoked')
      t.ok(await repos.accessTokens.isRevoked('jti-1'), 'its access token revoked')
      t.equal(await repos.sessions.findActive('sess-1'.padEnd(64, '0'), NOW), undefined, 'session ended')
      t.equal(await store.db.selectFrom('authorization_codes').select('id').where('id', '=', 'code-1').executeTakeFirst(), undefined, 'unused code dropped')
      t.equal((await repos.refreshTokens.findFamily('fam-2'))?.revokedAt, null, "another user's family untouched")
      t.notOk(await repos.accessTokens.isRevoked('jti-2'))
      t.ok(await repos.sessions.findActive('sess-2'.padEnd(64, '0'), NOW))

      t.equal(await repos.users.enable(user(1).id), true)
      t.equal(await repos.users.enable(user(1).id), false)
      t.equal((await repos.users.findById(user(1).id))?.disabledAt, null)

      await repos.users.setPasswordHash(user(2).id, 'h2', NOW + 7)
      t.equal((await repos.users.findById(user(2).id))?.passwordHash, 'h2')
      t.ok(await repos.accessTokens.isRevoked('jti-2'), 'a new password revokes the old grants')
      t.equal(await repos.sessions.findActive('sess-2'.padEnd(64, '0'), NOW), undefined)

      await repos.users.remove(user(2).id, NOW + 8)
      t.equal(await repos.users.findById(user(2).id), undefined)
      t.equal(await repos.refreshTokens.findFamily('fam-2'), undefined, 'families deleted')
      t.equal(await repos.consents.find('lk_a', user(2).id, 'https://api'), undefined, 'consents deleted')
      t.ok(await repos.accessTokens.isRevoked('jti-2'), 'the revoked jti outlives the user')
    })

    t.test('clients: pages, search, scope users (scope removal), secret rotation with and without grace, removal', async (t) => {
      const store = await dialect.open(t)
      const repos = repositories(store)
      for (const id of ['lk_c', 'lk_a', 'lk_b']) await repos.clients.create(client(id, id === 'lk_b' ? ['openid', 'orders'] : ['openid']))
      t.same((await repos.clients.list({ limit: 2 })).map((c) => c.id), ['lk_a', 'lk_b'])
      t.same((await repos.clients.list({ limit: 5, after: 'lk_b' })).map((c) => c.id), ['lk_c'])
      t.same((await repos.clients.list({ limit: 5, search: 'APP LK_C' })).map((c) => c.id), ['lk_c'])
      await repos.scopes.upsert({ name: 'order', description: 'Part of a name' })
      t.equal(await repos.scopes.remove('order', 5), 'removed', 'a whole scope name counts, not a part')

      await repos.clients.rotateSecret('lk_a', 'b'.repeat(64), NOW + 1000)
      t.match(await repos.clients.findById('lk_a'), { secretHash: 'b'.repeat(64), previousSecretHash: 'a'.repeat(64), previousSecretExpiresAt: NOW + 1000 })
      await repos.clients.rotateSecret('lk_a', 'c'.repeat(64), undefined)
      t.match(await repos.clients.findById('lk_a'), { secretHash: 'c'.repeat(64), previousSecretHash: null, previousSecretExpiresAt: null })

      await repos.clients.update('lk_a', { name: 'Renamed', scopes: [], resources: ['https://x'] })
      t.match(await repos.clients.findById('lk_a'), { name: 'Renamed', scopes: [], resources: ['https://x'] })

      await repos.users.create(user(1))
      await holdings(repos, store, user(1).id, 'lk_c', '1')
      await repos.clients.remove('lk_c', NOW + 9)
      t.equal(await repos.clients.findById('lk_c'), undefined)
      t.ok(await repos.accessTokens.isRevoked('jti-1'), "the client's access tokens are revoked")
      t.equal(await repos.refreshTokens.findFamily('fam-1'), undefined)
      t.equal(await repos.consents.find('lk_c', user(1).id, 'https://api'), undefined)
      t.ok(await repos.users.findById(user(1).id), 'the user stays')
    })

    t.test('scopes: pages and removal', async (t) => {
      const repos = repositories(await dialect.open(t))
      t.same((await repos.scopes.page({ limit: 2, after: 'offline_access' })).map((s) => s.name), ['openid', 'profile'])
      t.same((await repos.scopes.page({ limit: 9, search: 'NAME' })).map((s) => s.name), ['profile'], 'description, any case')
      t.equal(await repos.scopes.remove('profile', 6), 'removed')
      t.equal(await repos.scopes.remove('profile', 6), 'missing')
      // The delete itself refuses a scope a client uses: no check before it to race with.
      await repos.scopes.upsert({ name: 'read_%', description: 'Read' })
      await repos.scopes.upsert({ name: 'Read_%', description: 'Other' })
      await repos.clients.create(client('lk_r', ['openid', 'read_%']))
      await repos.clients.create(client('lk_s', ['read_%']))
      t.same(await repos.scopes.remove('read_%', 1), { usedBy: ['lk_r'] })
      t.same((await repos.scopes.findByNames(['read_%'])).map((s) => s.name), ['read_%'], 'still there')
      t.equal(await repos.scopes.remove('Read_%', 6), 'removed', 'a client of another case does not count')
    })

    t.test('grants and sessions: by client for one user, revoked for one client or all', async (t) => {
      const store = await dialect.open(t)
      const repos = repositories(store)
      await repos.users.create(user(1))
      await repos.users.create(user(2))
      await repos.clients.create(client('lk_a'))
      await repos.clients.create(client('lk_b'))
      await holdings(repos, store, user(1).id, 'lk_a', 'a')
      await holdings(repos, store, user(1).id, 'lk_b', 'b')
      await holdings(repos, store, user(2).id, 'lk_a', 'x')
      const grants = await repos.grants.listForUser(user(1).id, { limit: 5 })
      t.same(grants.map((g) => g.clientId), ['lk_a', 'lk_b'])
      t.match(grants[0], { clientName: 'App lk_a', consents: [{ resource: 'https://api', scopes: ['openid'] }], families: [{ id: 'fam-a', scopes: ['openid'] }] })
      t.same((await repos.grants.listForUser(user(1).id, { limit: 5, after: 'lk_a' })).map((g) => g.clientId), ['lk_b'])

      t.same(await repos.grants.revoke({ userId: user(1).id, clientId: 'lk_a' }, NOW + 1), { consents: 1, families: 1 })
      t.ok(await repos.accessTokens.isRevoked('jti-a'))
      t.notOk(await repos.accessTokens.isRevoked('jti-b'), 'the other client untouched')
      t.notOk(await repos.accessTokens.isRevoked('jti-x'), 'the other user untouched')
      t.same((await repos.grants.listForUser(user(1).id, { limit: 5 })).map((g) => g.clientId), ['lk_b'])
      t.same(await repos.grants.revoke({ userId: user(1).id }, NOW + 2), { consents: 1, families: 1 })
      t.same(await repos.grants.listForUser(user(1).id, { limit: 5 }), [])

      t.equal((await repos.sessions.listForUser(user(1).id, NOW, { limit: 5 })).length, 2)
      t.equal((await repos.sessions.listForUser(user(1).id, NOW + 2e6, { limit: 5 })).length, 0, 'expired sessions are not listed')
      t.equal((await repos.sessions.listForUser(user(1).id, NOW, { limit: 1, after: 'sess-a'.padEnd(64, '0') })).length, 1)
      t.equal(await repos.sessions.endAllFor(user(1).id), 2)
      t.equal((await repos.sessions.listForUser(user(2).id, NOW, { limit: 5 })).length, 1, "another user's session stays")
    })
  })
}
