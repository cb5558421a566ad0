import t from 'tap'
import { accountSignInRepository, type AccountSignIn } from '../../src/storage/account-sign-ins.js'
import { dialects } from '../helpers/db.js'
import { accountSignIns } from '../../src/authorization/account-sign-ins.js'
import { OAuthError } from '../../src/errors.js'
import { FakeClock } from '../helpers/clock.js'

const NOW = 1_795_000_000_000

function signIn(id: string, address: string, expiresAt: number, completedAt: number | null = null): AccountSignIn {
  return {
    id, browserHash: 'b', csrfHash: 'c', address, uiLocale: null, pendingUserId: null, pendingAmr: null, passkeyChallenge: null,
    createdAt: expiresAt - 600_000, expiresAt, completedAt,
  }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: account sign-ins`, async (t) => {
    const store = await dialect.open(t)
    await store.db.insertInto('users').values({ id: 'u1', username: 'alice', password_hash: 'x', email: null, name: null, created_at: 0 }).execute()
    const signIns = accountSignInRepository(store.db)

    t.test('counts the open sign-ins of an address up to a limit', async (t) => {
      t.same(await signIns.countOpen('192.0.2.1', NOW, 10), { count: 0, firstExpiresAt: null })
      await signIns.create(signIn('a', '192.0.2.1', NOW + 300))
      await signIns.create(signIn('b', '192.0.2.1', NOW + 100))
      await signIns.create(signIn('expired', '192.0.2.1', NOW))
      await signIns.create(signIn('completed', '192.0.2.1', NOW + 50, NOW - 1))
      await signIns.create(signIn('other', '192.0.2.2', NOW + 10))
      t.same(await signIns.countOpen('192.0.2.1', NOW, 10), { count: 2, firstExpiresAt: NOW + 100 })
      t.same(await signIns.countOpen('192.0.2.1', NOW, 1), { count: 1, firstExpiresAt: NOW + 100 })
    })

    t.test('records and forgets a pending user, and completes once', async (t) => {
      await signIns.create({ ...signIn('p', '192.0.2.9', NOW + 600), uiLocale: 'de' })
      t.match(await signIns.findById('p'), { pendingUserId: null, pendingAmr: null, uiLocale: 'de', completedAt: null })
      await signIns.setPending('p', { userId: 'u1', amr: ['pwd'] })
      t.match(await signIns.findById('p'), { pendingUserId: 'u1', pendingAmr: ['pwd'] })
      await signIns.setPending('p', null)
      t.match(await signIns.findById('p'), { pendingUserId: null, pendingAmr: null })
      t.equal(await signIns.complete('p', NOW), true)
      t.equal(await signIns.complete('p', NOW + 1), false, 'a second submit')
      t.equal((await signIns.findById('p'))?.completedAt, NOW)
      t.equal(await signIns.findById('nope'), undefined)
    })

    t.test('a sign-in created with a pending user keeps its methods', async (t) => {
      await signIns.create({ ...signIn('pc', '192.0.2.9', NOW + 600), pendingUserId: 'u1', pendingAmr: ['pwd', 'otp'] })
      t.match(await signIns.findById('pc'), { pendingUserId: 'u1', pendingAmr: ['pwd', 'otp'] })
    })

    t.test('the service refuses a second completion with a 400 naming it completed', async (t) => {
      const service = accountSignIns({ signIns, clock: new FakeClock() })
      const { signIn: opened } = await service.start({ browserId: 'browser-1', clientAddress: '192.0.2.77' })
      await service.complete(opened.id)
      t.equal((await signIns.findById(opened.id))?.completedAt !== null, true, 'marked complete')
      const err = await service.complete(opened.id).then(() => undefined, (e: unknown) => e)
      t.ok(err instanceof OAuthError, 'an OAuthError')
      t.match(err, { code: 'invalid_request', status: 400, reason: 'completed' })
    })

    t.test('a passkey challenge is taken once', async (t) => {
      await signIns.create(signIn('c', '192.0.2.9', NOW + 600))
      t.equal(await signIns.takePasskeyChallenge('c'), null)
      await signIns.setPasskeyChallenge('c', 'challenge-1')
      const [first, second] = await Promise.all([signIns.takePasskeyChallenge('c'), signIns.takePasskeyChallenge('c')])
      t.same([first, second].sort(), ['challenge-1', null].sort())
      t.equal(await signIns.takePasskeyChallenge('c'), null)
    })
  })
}
