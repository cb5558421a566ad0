import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { manage, PUBLIC_APP, register } from '../helpers/registration.js'

// Findings of the registration security review: each test fails without its fix.

t.test('HEAD /register/:client_id is 405 and spends no registration access token', async (t) => {
  const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
  const client = (await register(ctx, PUBLIC_APP)).json()
  const head = await ctx.app.inject({ method: 'HEAD', url: `/register/${client.client_id}`, headers: { authorization: `Bearer ${client.registration_access_token}` } })
  t.equal(head.statusCode, 405)
  t.equal(head.headers.allow, 'GET, PUT, DELETE')
  t.equal(head.headers['cache-control'], 'no-store')
  t.equal((await manage(ctx, 'GET', client.client_id, client.registration_access_token)).statusCode, 200, 'the token still works')
})

eachDialect(t, (t) => {
  t.test('without client_name, a host longer than a name may be is cut to 255 characters, never a 500', async (t) => {
    const ctx = await buildTestApp(t, { env: { REGISTRATION: 'open' } })
    const host = `${'a'.repeat(300)}.com`
    const res = await register(ctx, { redirect_uris: [`https://${host}/cb`] })
    t.equal(res.statusCode, 201)
    t.equal(res.json().client_name, host.slice(0, 255))
    t.equal((await ctx.repos.clients.findById(res.json().client_id))?.name, host.slice(0, 255))
    const scheme = `com.${'b'.repeat(300)}`
    const named = await register(ctx, { redirect_uris: [`${scheme}:/cb`] })
    t.equal(named.statusCode, 201)
    t.equal(named.json().client_name, scheme.slice(0, 255))
  })
})
