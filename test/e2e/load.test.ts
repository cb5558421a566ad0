import t from 'tap'
import { basic, createClient } from '../helpers/oauth.js'
import { startLatchkey } from '../helpers/server.js'

// Bounded load: a service asking for client-credentials tokens as fast as 10 connections allow,
// for a few seconds. Successes are never throttled, so every answer is 200 (the per-address
// limit on all requests that this replaces answered 429 to all but the first 120 a minute, so
// the run goes on past 120 requests on a slow machine, within a hard bound).
const DURATION_MS = 3000
const MAX_DURATION_MS = 20_000
const OLD_LIMIT = 120
const CONNECTIONS = 10

t.test('10 connections of valid client_credentials requests for 3 seconds: all 200, no 429', async (t) => {
  const ctx = await startLatchkey(t)
  const client = await createClient(ctx, { grants: ['client_credentials'], redirectUris: [] })
  const authorization = basic(client.client_id, client.client_secret as string)
  const statuses = new Map<number, number>()
  const start = Date.now()
  let sent = 0
  const goOn = () => {
    const elapsed = Date.now() - start
    return elapsed < MAX_DURATION_MS && (elapsed < DURATION_MS || sent <= OLD_LIMIT)
  }

  async function connection(): Promise<void> {
    while (goOn()) {
      sent++
      const res = await fetch(`${ctx.issuer}/token`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      })
      // Read the body so the connection is reused (keep-alive).
      await res.arrayBuffer()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  }

  await Promise.all(Array.from({ length: CONNECTIONS }, connection))
  const seconds = (Date.now() - start) / 1000
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  t.comment(`${total} requests in ${seconds.toFixed(1)} s at ${CONNECTIONS} connections: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal(statuses.get(429) ?? 0, 0, 'no 429')
  t.same([...statuses.keys()], [200], 'every answer is 200')
  t.ok(total > OLD_LIMIT, `more than the old limit of ${OLD_LIMIT} a minute`)
  t.same(await ctx.store.db.selectFrom('failure_counters').selectAll().execute(), [], 'and nothing was counted')
})
