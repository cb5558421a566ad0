import t from 'tap'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { passkeyChallengeRepository } from '../../src/storage/passkey-challenges.js'
import { passkeyRepository, type Passkey } from '../../src/storage/passkeys.js'
import { userRepository } from '../../src/storage/users.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000

function passkey(userId: string, credentialId: string, extra: Partial<Passkey> = {}): Passkey {
  return { credentialId, userId, publicKey: 'pQECAyYgASFY', counter: 0, transports: ['internal', 'hybrid'], name: 'Laptop', backedUp: true, createdAt: NOW, lastUsedAt: null, ...extra }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: passkeys repository`, async (t) => {
    const open = async (t: Parameters<typeof dialect.open>[0]) => {
      const store = await dialect.open(t)
      const users = userRepository(store.db)
      for (const id of ['u1', 'u2']) await users.create({ id, username: `user-${id}`, passwordHash: 'x', email: null, name: null, createdAt: NOW, disabledAt: null })
      return { store, passkeys: passkeyRepository(store.db), challenges: passkeyChallengeRepository(store.db) }
    }

    t.test('adds, lists per user, finds by credential id, refuses a second registration of one credential', async (t) => {
      const { passkeys } = await open(t)
      t.equal(await passkeys.add(passkey('u1', 'cred-b', { createdAt: NOW + 1 })), true)
      t.equal(await passkeys.add(passkey('u1', 'cred-a', { name: 'Phone', backedUp: false })), true)
      t.equal(await passkeys.add(passkey('u2', 'cred-c')), true)
      t.equal(await passkeys.add(passkey('u2', 'cred-a')), false, 'the credential id is taken')
      t.same((await passkeys.listForUser('u1')).map((p) => p.credentialId), ['cred-a', 'cred-b'], 'oldest first')
      t.same(await passkeys.findByCredentialId('cred-a'), passkey('u1', 'cred-a', { name: 'Phone', backedUp: false }))
      t.equal(await passkeys.findByCredentialId('nope'), undefined)
    })

    t.test('records a use only when the counter grows, or stays 0 for an authenticator without one', async (t) => {
      const { passkeys } = await open(t)
      await passkeys.add(passkey('u1', 'zero'))
      t.equal(await passkeys.recordUse('zero', 0, NOW + 1), true, 'both 0')
      t.equal((await passkeys.findByCredentialId('zero'))?.lastUsedAt, NOW + 1)
      t.equal(await passkeys.recordUse('zero', 5, NOW + 2), true)
      t.equal(await passkeys.recordUse('zero', 5, NOW + 3), false, 'the same counter twice')
      t.equal(await passkeys.recordUse('zero', 4, NOW + 3), false, 'a smaller one')
      t.equal(await passkeys.recordUse('zero', 0, NOW + 3), false, 'back to 0 once it counted')
      t.match(await passkeys.findByCredentialId('zero'), { counter: 5, lastUsedAt: NOW + 2 })
      const results = await Promise.all(Array.from({ length: 10 }, () => passkeys.recordUse('zero', 6, NOW + 4)))
      t.equal(results.filter(Boolean).length, 1, 'of concurrent uses with one counter, one wins')
      t.equal(await passkeys.recordUse('nope', 1, NOW), false)
    })

    t.test('renames and removes the user\'s own passkeys only', async (t) => {
      const { passkeys } = await open(t)
      await passkeys.add(passkey('u1', 'mine'))
      t.equal(await passkeys.rename('u2', 'mine', 'stolen'), false)
      t.equal(await passkeys.remove('u2', 'mine'), false)
      t.equal(await passkeys.rename('u1', 'mine', 'Work key'), true)
      t.equal((await passkeys.findByCredentialId('mine'))?.name, 'Work key')
      t.equal(await passkeys.remove('u1', 'mine'), true)
      t.equal(await passkeys.findByCredentialId('mine'), undefined)
      t.equal(await passkeys.remove('u1', 'mine'), false)
    })

    t.test('the last second factor removed takes the recovery codes with it', async (t) => {
      const { store, passkeys } = await open(t)
      await passkeys.add(passkey('u1', 'one'))
      await passkeys.add(passkey('u1', 'two'))
      await store.db.insertInto('recovery_codes').values({ code_hash: 'h1', user_id: 'u1', created_at: NOW, used_at: null }).execute()
      const codes = async () => (await store.db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', 'u1').execute()).length
      await passkeys.remove('u1', 'one')
      t.equal(await codes(), 1, 'a passkey remains')
      await store.db.insertInto('totp_factors').values({ user_id: 'u1', secret: 's', created_at: NOW, confirmed_at: NOW, last_step: null }).execute()
      await passkeys.remove('u1', 'two')
      t.equal(await codes(), 1, 'an authenticator app remains')
      await store.db.deleteFrom('totp_factors').execute()
      await passkeys.add(passkey('u1', 'three'))
      await passkeys.remove('u1', 'three')
      t.equal(await codes(), 0, 'nothing remains: the codes go')
    })

    t.test('a challenge is taken once, on the login session it waits on', async (t) => {
      const { store, challenges } = await open(t)
      await store.db.insertInto('login_sessions').values({ id_hash: sha256Hex('s'), user_id: 'u1', auth_time: NOW, created_at: NOW, expires_at: NOW + 1000 }).execute()
      const slot = challenges.forSession(sha256Hex('s'))
      t.equal(await slot.take(), null, 'none yet')
      await slot.set('1:abc')
      await slot.set('2:def')
      const taken = await Promise.all(Array.from({ length: 5 }, () => slot.take()))
      t.same(taken.filter((c) => c !== null), ['2:def'], 'the last one set, to one taker only')
      t.equal(await slot.take(), null)
      t.equal(await challenges.forSession('other').take(), null)
    })
  })
}
