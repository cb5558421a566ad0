import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
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
