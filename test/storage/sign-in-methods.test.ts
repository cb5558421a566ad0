import t from 'tap'
import { authorizationTransactionRepository, type AuthorizationTransaction } from '../../src/storage/authorization-transactions.js'
import { repositories } from '../../src/storage/repositories.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const USER = 'u1'

function transaction(id: string): AuthorizationTransaction {
  return {
    id, browserHash: 'b', csrfHash: 'c', clientId: 'c1', redirectUri: 'https://app.example.com/cb', state: null, scopes: ['openid'],
    resource: 'https://api.example.com', codeChallenge: null, codeChallengeMethod: null, nonce: null, forceConsent: false,
    userId: null, authTime: null, amr: null, acrValues: null, pendingUserId: null, pendingAmr: null, passkeyChallenge: null,
    createdAt: NOW, expiresAt: NOW + 600_000, completedAt: null, loginHint: null, maxAgeSeconds: null, address: '192.0.2.1', uiLocale: null,
  }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: how a user signed in is stored with each step, and older rows read as a password`, async (t) => {
    const store = await dialect.open(t)
    const repos = repositories(store)
    await store.db.insertInto('users').values({ id: USER, username: 'alice', password_hash: 'x', email: null, name: null, created_at: 0 }).execute()
    await store.db
      .insertInto('clients')
      .values({ id: 'c1', name: 'App', secret_hash: null, is_public: 1, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', audience: null, resources: '[]', created_at: 0 })
      .execute()

    t.test('login sessions', async (t) => {
      await repos.sessions.create({ idHash: 's-mfa'.padEnd(64, '0'), userId: USER, authTime: NOW, amr: ['pwd', 'otp', 'mfa'], createdAt: NOW, expiresAt: NOW + 1e6 })
      t.same((await repos.sessions.findActive('s-mfa'.padEnd(64, '0'), NOW))?.amr, ['pwd', 'otp', 'mfa'])
      await store.db.insertInto('login_sessions').values({ id_hash: 's-old'.padEnd(64, '0'), user_id: USER, auth_time: NOW, created_at: NOW, expires_at: NOW + 1e6 }).execute()
      t.same((await repos.sessions.findActive('s-old'.padEnd(64, '0'), NOW))?.amr, ['pwd'], 'a null amr is a password sign-in')
    })

    t.test('a session holds one registration challenge, taken once', async (t) => {
      const id = 's-mfa'.padEnd(64, '0')
      t.equal(await repos.sessions.takePasskeyChallenge(id), null, 'none yet')
      await repos.sessions.setPasskeyChallenge(id, 'challenge-1')
      const [first, second] = await Promise.all([repos.sessions.takePasskeyChallenge(id), repos.sessions.takePasskeyChallenge(id)])
      t.same([first, second].sort(), ['challenge-1', null].sort(), 'of two concurrent takes, one gets it')
      t.equal(await repos.sessions.takePasskeyChallenge(id), null, 'gone')
    })

    t.test('transactions: acr_values, the sign-in, a pending sign-in and the passkey challenge', async (t) => {
      const transactions = authorizationTransactionRepository(store.db)
      await transactions.create({ ...transaction('t1'), acrValues: 'urn:latchkey:acr:mfa' })
      t.match(await transactions.findById('t1'), { acrValues: 'urn:latchkey:acr:mfa', userId: null, amr: null, pendingUserId: null, pendingAmr: null })

      await transactions.setPending('t1', { userId: USER, amr: ['pwd'] })
      t.match(await transactions.findById('t1'), { userId: null, authTime: null, amr: null, pendingUserId: USER, pendingAmr: ['pwd'] }, 'pending: nobody signed in yet')
      await transactions.setUser('t1', { userId: USER, authTime: NOW, amr: ['pwd', 'otp', 'mfa'] })
      t.match(await transactions.findById('t1'), { userId: USER, authTime: NOW, amr: ['pwd', 'otp', 'mfa'], pendingUserId: null, pendingAmr: null }, 'signed in: the pending state is cleared')
      await transactions.setPending('t1', { userId: USER, amr: ['pwd'] })
      t.match(await transactions.findById('t1'), { userId: null, amr: null, pendingUserId: USER }, 'a new pending sign-in forgets the previous one')
      await transactions.setPending('t1', null)
      t.match(await transactions.findById('t1'), { userId: null, pendingUserId: null, pendingAmr: null })
      await transactions.setUser('t1', { userId: USER, authTime: NOW, amr: ['hwk'] })
      await transactions.setUser('t1', null)
      t.match(await transactions.findById('t1'), { userId: null, authTime: null, amr: null })

      t.equal(await transactions.takePasskeyChallenge('t1'), null)
      await transactions.setPasskeyChallenge('t1', 'c-1')
      t.equal((await transactions.findById('t1'))?.passkeyChallenge, 'c-1')
      const taken = await Promise.all([transactions.takePasskeyChallenge('t1'), transactions.takePasskeyChallenge('t1')])
      t.same(taken.filter((c) => c !== null), ['c-1'], 'single use, even concurrently')
      await transactions.setPasskeyChallenge('t1', 'c-2')
      await transactions.setPasskeyChallenge('t1', null)
      t.equal(await transactions.takePasskeyChallenge('t1'), null, 'cleared')
      t.equal(await transactions.takePasskeyChallenge('missing'), null, 'an unknown transaction has none')

      await store.db.updateTable('authorization_transactions').set({ user_id: USER, auth_time: NOW, amr: null }).where('id', '=', 't1').execute()
      t.same((await transactions.findById('t1'))?.amr, ['pwd'], 'a signed-in row from before second factors: a password')
    })

    t.test('codes and refresh-token families', async (t) => {
      const code = {
        id: 'code-1', codeHash: 'h1', clientId: 'c1', userId: USER, redirectUri: 'https://app.example.com/cb', scopes: ['openid'], resource: 'https://api.example.com',
        codeChallenge: null, codeChallengeMethod: null, authTime: NOW, amr: ['pwd', 'hwk', 'mfa'] as const, createdAt: NOW, expiresAt: NOW + 60_000, usedAt: null, familyId: null, nonce: null,
      }
      await repos.codes.create({ ...code, amr: [...code.amr] })
      t.same((await repos.codes.findById('code-1'))?.amr, ['pwd', 'hwk', 'mfa'])
      await repos.codes.create({ ...code, id: 'code-old', codeHash: 'h2', amr: ['pwd'] })
      await store.db.updateTable('authorization_codes').set({ amr: null }).where('id', '=', 'code-old').execute()
      t.same((await repos.codes.findById('code-old'))?.amr, ['pwd'], 'a null amr is a password sign-in')

      const family = { id: 'fam-1', clientId: 'c1', userId: USER, scopes: ['openid'], audience: 'https://api', authTime: NOW, amr: ['hwk' as const], beganWithOpenid: true, createdAt: NOW, revokedAt: null }
      await repos.refreshTokens.createFamily({
        family,
        token: { tokenHash: 'rt-1', familyId: 'fam-1', createdAt: NOW, expiresAt: NOW + 1e6, rotatedAt: null },
        accessToken: { jti: 'jti-1', clientId: 'c1', codeId: null, familyId: 'fam-1', createdAt: NOW, expiresAt: NOW + 1e6 },
      })
      t.same((await repos.refreshTokens.findWithFamily('rt-1'))?.family.amr, ['hwk'])
      t.same((await repos.refreshTokens.findFamily('fam-1'))?.amr, ['hwk'])
      await store.db.updateTable('refresh_token_families').set({ amr: null }).where('id', '=', 'fam-1').execute()
      t.same((await repos.refreshTokens.findWithFamily('rt-1'))?.family.amr, ['pwd'], 'a null amr is a password sign-in')
    })

    t.test('device approvals and denials', async (t) => {
      const device = {
        id: 'd1', deviceCodeHash: 'dc-1', userCodeHash: 'uc-1', clientId: 'c1', scopes: ['openid'], resource: 'https://api.example.com', status: 'pending' as const,
        userId: null, authTime: null, amr: null, codeId: null, intervalSeconds: 5, lastPolledAt: null, address: '192.0.2.1', createdAt: NOW, expiresAt: NOW + 600_000, redeemedAt: null,
      }
      await repos.devices.create(device)
      t.equal((await repos.devices.findById('d1'))?.amr, null, 'undecided: none')
      const code = {
        id: 'dcode', codeHash: 'dh', clientId: 'c1', userId: USER, redirectUri: 'http://localhost:3000/device', scopes: ['openid'], resource: 'https://api.example.com',
        codeChallenge: null, codeChallengeMethod: null, authTime: NOW, amr: ['pwd', 'otp', 'mfa'] as ('pwd' | 'otp' | 'mfa')[], createdAt: NOW, expiresAt: NOW + 600_000, usedAt: null, familyId: null, nonce: null,
      }
      t.ok(await repos.devices.approve({ id: 'd1', code, now: NOW }))
      t.same((await repos.devices.findById('d1'))?.amr, ['pwd', 'otp', 'mfa'])
      t.same((await repos.codes.findById('dcode'))?.amr, ['pwd', 'otp', 'mfa'], 'its code carries the amr to the tokens')
      await repos.devices.create({ ...device, id: 'd2', deviceCodeHash: 'dc-2', userCodeHash: 'uc-2' })
      t.ok(await repos.devices.deny({ id: 'd2', userId: USER, authTime: NOW, amr: ['hwk'], now: NOW }))
      t.same((await repos.devices.findById('d2'))?.amr, ['hwk'])
      await store.db.updateTable('device_authorizations').set({ amr: null }).where('id', '=', 'd2').execute()
      t.same((await repos.devices.findById('d2'))?.amr, ['pwd'], 'a decided row from before second factors: a password')
    })
  })
}
