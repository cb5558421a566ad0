import t from 'tap'
import { sql } from 'kysely'
import { repositories } from '../../src/storage/repositories.js'
import { dialects } from '../helpers/db.js'

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: repository contract`, async (t) => {
    t.test('seeds the four built-in scopes', async (t) => {
      const repos = repositories(await dialect.open(t))
      t.same((await repos.scopes.list()).map((s) => s.name), ['email', 'offline_access', 'openid', 'profile'])
    })

    t.test('stores and finds users, with times as numbers', async (t) => {
      const repos = repositories(await dialect.open(t))
      const user = { id: '7f1f8d52-2f7b-4c55-9b54-0b7f8a3c2c11', username: 'alice', passwordHash: 'h', email: null, name: 'Alice', createdAt: 1_795_000_000_123 }
      await repos.users.create(user)
      t.same(await repos.users.findById(user.id), { ...user, disabledAt: null })
      t.same(await repos.users.findByUsername('alice'), { ...user, disabledAt: null })
      t.equal(await repos.users.findByUsername('bob'), undefined)
      await t.rejects(repos.users.create({ ...user, id: 'other' }), 'usernames are unique')
    })

    t.test('stores clients with lists and booleans mapped back', async (t) => {
      const repos = repositories(await dialect.open(t))
      const client = {
        id: 'lk_abc',
        name: 'App',
        secretHash: null,
        isPublic: true,
        redirectUris: ['http://127.0.0.1:8080/cb'],
        postLogoutRedirectUris: [],
        grantTypes: ['authorization_code' as const, 'refresh_token' as const],
        scopes: ['openid'],
        audience: null,
        resources: ['https://a.example.com/api', 'urn:example:b'],
        createdAt: 1_795_000_000_000,
      }
      await repos.clients.create(client)
      t.same(await repos.clients.findById('lk_abc'), {
        ...client,
        previousSecretHash: null,
        previousSecretExpiresAt: null,
        selfRegistered: false,
        registrationTokenHash: null,
        tokenEndpointAuthMethod: null,
        lastUsedAt: null,
        requireMfa: false,
      })
      // A self-registered client (RFC 7591): its token hash, auth method and use.
      await repos.clients.create({ ...client, id: 'lk_self', selfRegistered: true, registrationTokenHash: 'h1', tokenEndpointAuthMethod: 'none' })
      t.equal(await repos.clients.replaceRegistrationToken('lk_self', 'wrong', 'h2'), false, 'only from the current hash')
      t.equal(await repos.clients.replaceRegistrationToken('lk_abc', 'h1', 'h2'), false, 'only a self-registered client')
      t.equal(await repos.clients.replaceRegistrationToken('lk_self', 'h1', 'h2'), true)
      await repos.clients.markUsed('lk_self', 1_795_000_100_000)
      t.match(await repos.clients.findById('lk_self'), { selfRegistered: true, registrationTokenHash: 'h2', tokenEndpointAuthMethod: 'none', lastUsedAt: 1_795_000_100_000 })
      t.equal(await repos.clients.findById('lk_none'), undefined)
    })

    t.test('finds the first resource server registered for an audience', async (t) => {
      const repos = repositories(await dialect.open(t))
      const base = { secretHash: 'h', isPublic: false, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [], scopes: [], resources: [] }
      await repos.clients.create({ ...base, id: 'lk_later', name: 'Later', audience: 'https://api.example.com', createdAt: 2 })
      await repos.clients.create({ ...base, id: 'lk_first', name: 'Payments API', audience: 'https://api.example.com', createdAt: 1 })
      await repos.clients.create({ ...base, id: 'lk_app', name: 'App', audience: null, resources: ['https://other.example.com'], createdAt: 0 })
      t.equal((await repos.clients.findByAudience('https://api.example.com'))?.name, 'Payments API')
      t.equal(await repos.clients.findByAudience('https://api.example.com/'), undefined, 'compared exactly')
      t.equal(await repos.clients.findByAudience('https://other.example.com'), undefined, 'a resource a client may request is no registration')
    })

    t.test('a consent accumulates the scopes it was given for, per resource', async (t) => {
      const repos = repositories(await dialect.open(t))
      const user = { id: '7f1f8d52-2f7b-4c55-9b54-0b7f8a3c2c11', username: 'alice', passwordHash: 'h', email: null, name: null, createdAt: 0 }
      await repos.users.create(user)
      const base = { secretHash: 'h', isPublic: false, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [], scopes: [], audience: null, resources: [], createdAt: 0 }
      await repos.clients.create({ ...base, id: 'lk_app', name: 'App' })
      const [a, b] = ['https://a.example.com', 'https://b.example.com']
      t.equal(await repos.consents.find('lk_app', user.id, a), undefined)
      await repos.consents.grant('lk_app', user.id, a, ['openid'], 10)
      await repos.consents.grant('lk_app', user.id, b, ['openid', 'email'], 20)
      await repos.consents.grant('lk_app', user.id, a, ['profile'], 30)
      t.same(await repos.consents.find('lk_app', user.id, a), { clientId: 'lk_app', userId: user.id, resource: a, scopes: ['openid', 'profile'], createdAt: 10, updatedAt: 30 })
      t.same(await repos.consents.find('lk_app', user.id, b), { clientId: 'lk_app', userId: user.id, resource: b, scopes: ['openid', 'email'], createdAt: 20, updatedAt: 20 })
      t.equal(await repos.consents.find('lk_app', user.id, 'https://c.example.com'), undefined)
    })

    t.test('adds a scope and updates an existing description', async (t) => {
      const repos = repositories(await dialect.open(t))
      await repos.scopes.upsert({ name: 'source:w', description: 'one' })
      await repos.scopes.upsert({ name: 'source:w', description: 'two' })
      t.same(await repos.scopes.findByNames(['source:w', 'nope']), [{ name: 'source:w', description: 'two' }])
      t.same(await repos.scopes.findByNames([]), [])
    })

    t.test('ping reaches the database', async (t) => {
      const store = await dialect.open(t)
      await t.resolves(store.ping())
      const { rows } = await sql<{ n: number }>`select 1 as n`.execute(store.db)
      t.equal(Number(rows[0]?.n), 1)
    })
  })
}
