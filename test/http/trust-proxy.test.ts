import t, { type Test } from 'tap'
import { clientAuthKey, signInAddressKey } from '../../src/accounts/failure-limits.js'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { basic, createClient, createUser } from '../helpers/oauth.js'

// TRUST_PROXY: the client address (and https) come from X-Forwarded-For (and X-Forwarded-Proto)
// only when the proxies sending them are trusted; otherwise those headers are ignored.

const PROXY = '10.0.0.5'
const CLIENT = '203.0.113.9'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

async function setup(t: Test, env: Record<string, string>) {
  const ctx = await buildTestApp(t, { env: { LIMIT_CLIENT_AUTH_FAILURES: '2', ...env } })
  // What fastify made of the request, as the limits see it.
  ctx.app.get('/probe', async (request) => ({ ip: request.ip, protocol: request.protocol }))
  const client = await createClient(ctx, { grants: ['client_credentials', 'password'] })
  await createUser(ctx)
  const probe = async (remoteAddress: string, headers: Record<string, string> = {}) =>
    (await ctx.app.inject({ method: 'GET', url: '/probe', remoteAddress, headers })).json()
  const token = (remoteAddress: string, headers: Record<string, string>, form: Record<string, string>, secret = 'guess') =>
    ctx.app.inject({
      method: 'POST',
      url: '/token',
      remoteAddress,
      headers: { ...FORM, authorization: basic(client.client_id, secret), ...headers },
      payload: new URLSearchParams(form).toString(),
    })
  const failures = async (key: string) => (await ctx.repos.failureCounters.find(key, ctx.clock.now()))?.failures
  return { ctx, client, probe, token, failures }
}

eachDialect(t, (t) => {
  t.test('without TRUST_PROXY, X-Forwarded-For and X-Forwarded-Proto are ignored', async (t) => {
    const { client, probe, token, failures } = await setup(t, {})
    t.same(await probe(PROXY, { 'x-forwarded-for': CLIENT, 'x-forwarded-proto': 'https' }), { ip: PROXY, protocol: 'http' })
    // A client forging a new address on every try is still counted under its socket address.
    const forged = (i: number) => token(PROXY, { 'x-forwarded-for': `198.51.100.${i}` }, { grant_type: 'client_credentials' })
    t.equal((await forged(1)).statusCode, 401)
    t.equal((await forged(2)).statusCode, 401)
    t.equal((await forged(3)).statusCode, 429, 'forged addresses do not escape the limit')
    t.equal(await failures(clientAuthKey(client.client_id, PROXY)), 3)
    t.equal(await failures(clientAuthKey(client.client_id, '198.51.100.1')), undefined)
  })

  t.test('with TRUST_PROXY listing the proxy, its X-Forwarded-For and X-Forwarded-Proto are used', async (t) => {
    const { client, probe, token, failures } = await setup(t, { TRUST_PROXY: '10.0.0.0/8' })
    t.same(await probe(PROXY, { 'x-forwarded-for': CLIENT, 'x-forwarded-proto': 'https' }), { ip: CLIENT, protocol: 'https' })
    t.same(await probe(PROXY, { 'x-forwarded-for': `192.0.2.1, ${CLIENT}` }), { ip: CLIENT, protocol: 'http' }, 'only the hop the proxy saw is believed')
    t.same(await probe('192.0.2.66', { 'x-forwarded-for': CLIENT, 'x-forwarded-proto': 'https' }), { ip: '192.0.2.66', protocol: 'http' }, 'another sender is not trusted')
    const fromProxy = (ip: string) => token(PROXY, { 'x-forwarded-for': ip }, { grant_type: 'client_credentials' })
    t.equal((await fromProxy(CLIENT)).statusCode, 401)
    t.equal((await fromProxy(CLIENT)).statusCode, 401)
    t.equal((await fromProxy('192.0.2.20')).statusCode, 401, 'another client behind the proxy has its own count')
    t.equal((await fromProxy(CLIENT)).statusCode, 429)
    t.equal(await failures(clientAuthKey(client.client_id, CLIENT)), 3, 'counted under the forwarded address')
    t.equal(await failures(clientAuthKey(client.client_id, '192.0.2.20')), 1)
    t.equal(await failures(clientAuthKey(client.client_id, PROXY)), undefined, 'never under the proxy')
  })

  t.test('failed sign-ins count under the forwarded address when trusted, the socket address when not', async (t) => {
    for (const [env, counted] of [[{}, PROXY], [{ TRUST_PROXY: PROXY }, CLIENT]] as const) {
      const { client, token, failures } = await setup(t, env)
      const secret = client.client_secret as string
      const signIn = await token(PROXY, { 'x-forwarded-for': CLIENT }, { grant_type: 'password', username: 'alice', password: 'wrong' }, secret)
      t.same(signIn.json(), { error: 'invalid_grant', error_description: 'wrong username or password' })
      t.equal(await failures(signInAddressKey(counted)), 1, `counted under ${counted}`)
      t.equal(await failures(signInAddressKey(counted === PROXY ? CLIENT : PROXY)), undefined)
    }
  })

  t.test('with a hop count, the address that many hops back is the client', async (t) => {
    const { probe } = await setup(t, { TRUST_PROXY: '2' })
    t.same(await probe(PROXY, { 'x-forwarded-for': `198.51.100.7, ${CLIENT}, 10.0.0.4`, 'x-forwarded-proto': 'https' }), { ip: CLIENT, protocol: 'https' })
    t.same(await probe(PROXY, { 'x-forwarded-for': CLIENT }), { ip: CLIENT, protocol: 'http' }, 'a shorter chain ends at its first address')
    t.same(await probe(PROXY), { ip: PROXY, protocol: 'http' }, 'no header: the socket address')
    const one = await setup(t, { TRUST_PROXY: '1' })
    t.same(await one.probe(PROXY, { 'x-forwarded-for': `198.51.100.7, ${CLIENT}` }), { ip: CLIENT, protocol: 'http' }, 'one hop: what the client itself sent is ignored')
  })
})
