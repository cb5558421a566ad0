import type { Kysely } from 'kysely'
import t from 'tap'
import { sha256Hex } from '../../src/oauth/secrets.js'
import type { Client } from '../../src/storage/clients.js'
import { clientRepository } from '../../src/storage/clients.js'
import * as clientOrigins from '../../src/storage/migrations/2026-12-01-03-client-origins.js'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect, underMigrationLock } from '../helpers/db.js'
import { manage, PUBLIC_APP, register } from '../helpers/registration.js'

// client_origins: the web origins of every client's redirect URIs, kept in step with the client
// (created, its redirect URIs replaced, deleted), so a CORS preflight is one indexed lookup.

const client = (id: string, redirectUris: string[]): Client => ({
  id,
  name: id,
  secretHash: null,
  isPublic: true,
  redirectUris,
  postLogoutRedirectUris: [],
  grantTypes: ['authorization_code'],
  scopes: [],
  audience: null,
  resources: [],
  createdAt: 0,
})

eachDialect(t, (t, dialect) => {
  t.test('the repository keeps client_origins in step with redirect URIs', async (t) => {
    const store = await dialect.open(t)
    const clients = clientRepository(store.db)
    const stored = async (id: string) =>
      (await store.db.selectFrom('client_origins').select('origin_hash').where('client_id', '=', id).orderBy('origin_hash').execute()).map((row) => row.origin_hash)
    const hashes = (...origins: string[]) => origins.map(sha256Hex).sort()

    await clients.create(client('a', ['https://spa.example.com/cb', 'https://spa.example.com/other', 'http://127.0.0.1:8080/cb', 'com.example.app:/cb']))
    t.same(await stored('a'), hashes('https://spa.example.com', 'http://127.0.0.1:8080'), 'one row per origin; a private-use scheme has none')
    t.ok(await clients.isRegisteredOrigin('https://spa.example.com'))
    t.ok(await clients.isRegisteredOrigin('http://127.0.0.1:8080'))
    t.notOk(await clients.isRegisteredOrigin('https://spa.example.com:8443'), 'the port is part of the origin')
    t.notOk(await clients.isRegisteredOrigin('null'))

    await clients.update('a', { name: 'renamed' })
    t.same(await stored('a'), hashes('https://spa.example.com', 'http://127.0.0.1:8080'), 'an update that leaves the redirect URIs keeps the rows')
    await clients.update('a', { redirectUris: ['https://new.example.com/cb'] })
    t.same(await stored('a'), hashes('https://new.example.com'))
    t.notOk(await clients.isRegisteredOrigin('https://spa.example.com'), 'a replaced origin is gone')
    t.ok(await clients.isRegisteredOrigin('https://new.example.com'))

    await clients.create(client('b', ['https://new.example.com/b']))
    await clients.remove('a', 0)
    t.same(await stored('a'), [], 'a removed client takes its rows along')
    t.ok(await clients.isRegisteredOrigin('https://new.example.com'), 'another client still has the origin')
    await clients.remove('b', 0)
    t.notOk(await clients.isRegisteredOrigin('https://new.example.com'))

    // In a caller's transaction, a failure rolls the client and its origins back together.
    await t.rejects(
      store.db.transaction().execute(async (trx) => {
        await clientRepository(trx).create(client('c', ['https://c.example.com/cb']))
        throw new Error('rolled back')
      }),
    )
    t.notOk(await clients.isRegisteredOrigin('https://c.example.com'))
    t.equal(await clients.findById('c'), undefined)
  })

  t.test('the migration fills client_origins from the clients that exist, and down drops it', async (t) => {
    const store = await dialect.open(t)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const db = store.db as unknown as Kysely<any>
    await underMigrationLock(store, (db) => clientOrigins.down(db))
    const row = (id: string, uris: string[]) => ({
      id,
      name: id,
      secret_hash: null,
      is_public: 1,
      redirect_uris: JSON.stringify(uris),
      post_logout_redirect_uris: '[]',
      grant_types: '["authorization_code"]',
      scopes: '[]',
      resources: '[]',
      created_at: 0,
    })
    await db.insertInto('clients').values([row('old', ['https://old.example.com/cb', 'https://old.example.com/2']), row('native', ['com.example.app:/cb']), row('none', [])]).execute()
    await underMigrationLock(store, (db) => clientOrigins.up(db))
    const rows = await db.selectFrom('client_origins').selectAll().execute()
    t.same(rows, [{ origin_hash: sha256Hex('https://old.example.com'), client_id: 'old' }])
    t.ok(await clientRepository(store.db).isRegisteredOrigin('https://old.example.com'))
  })

  t.test('a preflight follows a self-registered client\'s redirect URIs through RFC 7592 PUT and DELETE', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    const preflight = async (origin: string) =>
      (await ctx.app.inject({ method: 'OPTIONS', url: '/token', headers: { origin, 'access-control-request-method': 'POST' } })).headers['access-control-allow-origin']
    const registered = (await register(ctx, PUBLIC_APP)).json()
    t.equal(await preflight('https://agent.example.com'), 'https://agent.example.com')
    const put = await manage(ctx, 'PUT', registered.client_id, registered.registration_access_token, { ...PUBLIC_APP, client_id: registered.client_id, redirect_uris: ['https://moved.example.com/cb'] })
    t.equal(put.statusCode, 200)
    t.notOk(await preflight('https://agent.example.com'), 'the old origin is no longer allowed')
    t.equal(await preflight('https://moved.example.com'), 'https://moved.example.com')
    t.equal((await manage(ctx, 'DELETE', registered.client_id, put.json().registration_access_token)).statusCode, 204)
    t.notOk(await preflight('https://moved.example.com'), 'nor once the client is deleted')
  })
})
