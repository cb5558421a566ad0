import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'

eachDialect(t, (t) => {
  t.test('GET /.well-known/jwks.json publishes the public signing key', async (t) => {
    const { app, keys } = await buildTestApp(t)
    const res = await app.inject('/.well-known/jwks.json')
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /application\/json/)
    const body = res.json()
    t.equal(body.keys.length, 1)
    t.same(Object.keys(body.keys[0]).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
    t.match(body.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', kid: keys.signingKey().kid })
    t.notOk(JSON.stringify(body).includes('"d"'), 'no private member')
  })

  t.test('GET /healthz reports the database reachable', async (t) => {
    const { app } = await buildTestApp(t)
    const res = await app.inject('/healthz')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'ok', database: 'ok' })
    t.equal(res.headers['cache-control'], 'no-store')
  })

  t.test('GET /healthz answers 503 when the database is unreachable', async (t) => {
    const { app, store } = await buildTestApp(t)
    await store.close()
    const res = await app.inject('/healthz')
    t.equal(res.statusCode, 503)
    t.same(res.json(), { status: 'unavailable', database: 'unreachable' })
  })
})
