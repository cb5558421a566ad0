import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { shutDown, SHUTDOWN_GRACE_MS } from '../../src/shutdown.js'
import { sqliteCase } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { testPasswords } from '../helpers/passwords.js'

/** A listening latchkey with one extra route that answers only when the test says so. */
async function serverWithSlowRoute(t: Test) {
  const store = await sqliteCase.open(t)
  const app = await buildApp(loadConfig({}), { store, keys: await fixtureKeyStore(), passwords: testPasswords })
  let entered: () => void = () => {}
  const inFlight = new Promise<void>((resolve) => (entered = resolve))
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  app.get('/slow', async () => {
    entered()
    await released
    return { done: true }
  })
  let onCloseRan = false
  app.addHook('onClose', async () => {
    onCloseRan = true
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  return { app, store, origin, inFlight, release, onCloseRan: () => onCloseRan }
}

t.test('a request in flight finishes; new connections are refused; hooks run and the database closes', async (t) => {
  const s = await serverWithSlowRoute(t)
  const slow = fetch(`${s.origin}/slow`)
  await s.inFlight
  const stopping = shutDown({ app: s.app, store: s.store, graceMs: 5_000 })
  // The listener closes at once: a new connection is refused while the old request runs.
  await new Promise((resolve) => setTimeout(resolve, 100))
  await t.rejects(fetch(`${s.origin}/healthz`), 'no new connection is accepted')
  s.release()
  const res = await slow
  t.equal(res.status, 200, 'the request in flight got its answer')
  t.same(await res.json(), { done: true })
  t.equal(await stopping, 'clean')
  t.ok(s.onCloseRan(), 'onClose hooks ran (the purge timer stops there)')
  await t.rejects(s.store.ping(), 'the database is closed')
})

t.test('a request still running after the grace period is cut off and the database closes anyway', async (t) => {
  const s = await serverWithSlowRoute(t)
  const slow = fetch(`${s.origin}/slow`).then(
    (res) => res.status,
    () => 'cut off',
  )
  await s.inFlight
  const started = Date.now()
  t.equal(await shutDown({ app: s.app, store: s.store, graceMs: 300 }), 'forced')
  const took = Date.now() - started
  t.ok(took >= 300 && took < 3_000, `stopped after ${took} ms`)
  t.equal(await slow, 'cut off')
  await t.rejects(s.store.ping(), 'the database is closed')
  s.release()
})

t.test('the production grace period is bounded', async (t) => {
  t.equal(SHUTDOWN_GRACE_MS, 10_000)
})
