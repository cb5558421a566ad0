import t from 'tap'
import { setUpDemo, type DemoInput } from '../../src/admin/demo.js'
import type { AuditEvent } from '../../src/audit.js'
import { systemClock } from '../../src/clock.js'
import { inTransaction, repositories, type InTransaction } from '../../src/storage/repositories.js'
import { dialects } from '../helpers/db.js'
import { testPasswords } from '../helpers/passwords.js'

const INPUT: DemoInput = { issuer: 'http://localhost:3000', audience: 'http://localhost:4000', appOrigin: 'http://localhost:5000' }

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: demo sets up, reruns in place, and records what it changed`, async (t) => {
    const store = await dialect.open(t)
    const events: AuditEvent[] = []
    const deps = { transaction: inTransaction(store), passwords: testPasswords, clock: systemClock, audit: { record: (e: AuditEvent) => void events.push(e) } }
    const first = await setUpDemo(deps, INPUT)
    t.equal(first.created, true)
    t.same(events.map((e) => e.event), ['user_created', 'client_created', 'client_created'])
    events.length = 0
    const second = await setUpDemo(deps, INPUT)
    t.equal(second.created, false, 'nothing new on a rerun')
    t.same(events, [
      { event: 'user_password_set', userId: first.user.id, actor: 'cli' },
      { event: 'client_secret_rotated', clientId: first.clients.example_app.client_id, graceSeconds: 0, actor: 'cli' },
    ])
    const repos = repositories(store)
    t.same((await repos.clients.findByName('latchkey example app (http://localhost:5000)')).map((c) => c.id), [first.clients.example_app.client_id])
    t.same(await repos.clients.findByName('no such client'), [])
    t.ok(await testPasswords.verify((await repos.users.findByUsername('demo'))?.passwordHash, second.user.password))
  })

  t.test(`${dialect.name}: a failure part-way leaves nothing behind`, async (t) => {
    const store = await dialect.open(t)
    const real = inTransaction(store)
    // The example app's client cannot be written: the user, scope and public client made before it must go too.
    const failing: InTransaction = (work) =>
      real((repos) => {
        let creates = 0
        const clients = { ...repos.clients, create: async (client: Parameters<typeof repos.clients.create>[0]) => {
          if (++creates === 2) throw new Error('disk full')
          return repos.clients.create(client)
        } }
        return work({ ...repos, clients })
      })
    const events: AuditEvent[] = []
    await t.rejects(setUpDemo({ transaction: failing, passwords: testPasswords, clock: systemClock, audit: { record: (e) => void events.push(e) } }, INPUT), { message: 'disk full' })
    const repos = repositories(store)
    t.equal(await repos.users.findByUsername('demo'), undefined, 'no user')
    t.same(await repos.clients.findByName('latchkey demo (public client, PKCE)'), [], 'no public client')
    t.same(await repos.scopes.findByNames(['source:w']), [], 'no scope')
    t.same(events, [], 'and no audit event for what never happened')
  })
}

t.test('demo refuses an audience that is not an absolute URI', async (t) => {
  const store = await dialects(t)[0]!.open(t)
  await t.rejects(
    setUpDemo({ transaction: inTransaction(store), passwords: testPasswords, clock: systemClock, audit: { record() {} } }, { ...INPUT, audience: 'api' }),
    { name: 'AdminError', message: /audience "api"/ },
  )
})
