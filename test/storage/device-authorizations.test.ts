import t from 'tap'
import type { AuthorizationCode } from '../../src/storage/authorization-codes.js'
import { deviceAuthorizationRepository, type DeviceAuthorization } from '../../src/storage/device-authorizations.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000

function device(id: string, overrides: Partial<DeviceAuthorization> = {}): DeviceAuthorization {
  return {
    id, deviceCodeHash: `d-${id}`, userCodeHash: `u-${id}`, clientId: 'c1', scopes: ['openid'], resource: 'https://api.example.com',
    status: 'pending', userId: null, authTime: null, amr: null, codeId: null, intervalSeconds: 5, lastPolledAt: null, address: '192.0.2.1',
    createdAt: NOW, expiresAt: NOW + 600_000, redeemedAt: null, ...overrides,
  }
}

function code(id: string): AuthorizationCode {
  return {
    id, codeHash: `h-${id}`, clientId: 'c1', userId: 'u1', redirectUri: 'http://localhost:3000/device', scopes: ['openid'],
    resource: 'https://api.example.com', codeChallenge: null, codeChallengeMethod: null, authTime: NOW - 1000, amr: ['pwd'], createdAt: NOW,
    expiresAt: NOW + 600_000, usedAt: null, familyId: null, nonce: null,
  }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: device authorizations`, async (t) => {
    const store = await dialect.open(t)
    await store.db.insertInto('users').values({ id: 'u1', username: 'alice', password_hash: 'x', email: null, name: null, created_at: 0 }).execute()
    await store.db
      .insertInto('clients')
      .values({ id: 'c1', name: 'TV', secret_hash: null, is_public: 1, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', audience: null, resources: '[]', created_at: 0 })
      .execute()
    const devices = deviceAuthorizationRepository(store.db)

    t.test('a taken user code or device code is refused, with nothing stored', async (t) => {
      t.ok(await devices.create(device('a')))
      t.notOk(await devices.create(device('b', { userCodeHash: 'u-a' })))
      t.notOk(await devices.create(device('c', { deviceCodeHash: 'd-a' })))
      t.same(await devices.findById('a'), device('a'), 'read back as stored')
      t.equal(await devices.findById('b'), undefined)
    })

    t.test('found by user code only while pending and unexpired', async (t) => {
      t.equal((await devices.findPendingByUserCodeHash('u-a', NOW))?.id, 'a')
      t.equal(await devices.findPendingByUserCodeHash('u-a', NOW + 600_000), undefined, 'expired')
      t.equal(await devices.findPendingByUserCodeHash('u-nobody', NOW), undefined)
    })

    t.test('a poll is recorded only over the one read; slow_down adds to the interval', async (t) => {
      t.ok(await devices.recordPoll('a', null, NOW + 1000))
      t.notOk(await devices.recordPoll('a', null, NOW + 1001), 'a concurrent poll read the same state')
      t.notOk(await devices.recordPoll('a', NOW, NOW + 1002))
      t.ok(await devices.recordPoll('a', NOW + 1000, NOW + 7000))
      await devices.slowDown('a', 5, NOW + 8000)
      t.match(await devices.findById('a'), { intervalSeconds: 10, lastPolledAt: NOW + 8000 })
    })

    t.test('an approval writes its code and the decision at once, only while pending and unexpired', async (t) => {
      await devices.create(device('late', { expiresAt: NOW + 10 }))
      t.notOk(await devices.approve({ id: 'late', code: code('late-code'), now: NOW + 10 }), 'expired')
      t.equal(await store.db.selectFrom('authorization_codes').select('id').where('id', '=', 'late-code').executeTakeFirst(), undefined, 'its code rolled back')
      t.ok(await devices.approve({ id: 'a', code: code('a-code'), now: NOW }))
      t.match(await devices.findById('a'), { status: 'approved', userId: 'u1', authTime: NOW - 1000, codeId: 'a-code' })
      t.notOk(await devices.approve({ id: 'a', code: code('a-again'), now: NOW }), 'approved already')
      t.notOk(await devices.deny({ id: 'a', userId: 'u1', authTime: NOW, amr: ['pwd'], now: NOW }), 'nor denied after')
      await devices.create(device('d'))
      t.ok(await devices.deny({ id: 'd', userId: 'u1', authTime: NOW, amr: ['pwd'], now: NOW }))
      t.match(await devices.findById('d'), { status: 'denied', userId: 'u1', codeId: null })
    })

    t.test('redeemed once marked; open ones counted per address up to a limit', async (t) => {
      await devices.markRedeemed('a', NOW + 5)
      await devices.markRedeemed('a', NOW + 6)
      t.equal((await devices.findById('a'))?.redeemedAt, NOW + 5, 'the first mark stays')
      await devices.create(device('other', { address: '192.0.2.2' }))
      t.same(await devices.countOpen('192.0.2.1', NOW, 10), { count: 3, firstExpiresAt: NOW + 10 }, 'a, d and late, decided or not')
      t.same(await devices.countOpen('192.0.2.1', NOW, 2), { count: 2, firstExpiresAt: NOW + 10 }, 'up to the limit, the first to expire included')
      t.same(await devices.countOpen('192.0.2.1', NOW + 10, 10), { count: 2, firstExpiresAt: NOW + 600_000 }, 'late has expired')
      t.same(await devices.countOpen('192.0.2.9', NOW, 10), { count: 0, firstExpiresAt: null })
    })
  })
}
