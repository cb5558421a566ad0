import t from 'tap'
import { authorizationTransactionRepository, type AuthorizationTransaction } from '../../src/storage/authorization-transactions.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000

function transaction(id: string, address: string | null, expiresAt: number, completedAt: number | null = null): AuthorizationTransaction {
  return {
    id, browserHash: 'b', csrfHash: 'c', clientId: 'c1', redirectUri: 'https://app.example.com/cb', state: null, scopes: [],
    resource: 'https://api.example.com', codeChallenge: null, codeChallengeMethod: null, nonce: null, forceConsent: false,
    userId: null, authTime: null, amr: null, acrValues: null, pendingUserId: null, pendingAmr: null, passkeyChallenge: null, createdAt: expiresAt - 600_000, expiresAt, completedAt, loginHint: null, maxAgeSeconds: null, address, uiLocale: null,
  }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: open transactions per address`, async (t) => {
    const store = await dialect.open(t)
    await store.db
      .insertInto('clients')
      .values({ id: 'c1', name: 'App', secret_hash: null, is_public: 1, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', audience: null, resources: '[]', created_at: 0 })
      .execute()
    const transactions = authorizationTransactionRepository(store.db)
    t.same(await transactions.countOpen('192.0.2.1', NOW, 10), { count: 0, firstExpiresAt: null })

    await transactions.create(transaction('a', '192.0.2.1', NOW + 300))
    await transactions.create(transaction('b', '192.0.2.1', NOW + 100))
    await transactions.create(transaction('c', '192.0.2.1', NOW + 200))
    await transactions.create(transaction('expired', '192.0.2.1', NOW))
    await transactions.create(transaction('completed', '192.0.2.1', NOW + 50, NOW - 1))
    await transactions.create(transaction('other', '192.0.2.2', NOW + 10))
    await transactions.create(transaction('unknown', null, NOW + 10))

    t.same(await transactions.countOpen('192.0.2.1', NOW, 10), { count: 3, firstExpiresAt: NOW + 100 }, 'neither expired nor completed')
    t.same(await transactions.countOpen('192.0.2.1', NOW, 2), { count: 2, firstExpiresAt: NOW + 100 }, 'counted up to the limit, the first to expire included')
    t.same(await transactions.countOpen('192.0.2.2', NOW, 10), { count: 1, firstExpiresAt: NOW + 10 })
    // Completing a transaction takes it out of the count (and out of the index the count reads).
    t.ok(await transactions.complete('b', NOW))
    t.same(await transactions.countOpen('192.0.2.1', NOW, 10), { count: 2, firstExpiresAt: NOW + 200 }, 'a completed transaction no longer counts')
    t.equal((await transactions.findById('a'))?.address, '192.0.2.1', 'the address is stored')
    t.equal((await transactions.findById('a'))?.uiLocale, null, 'no ui_locales: null')
    await transactions.create({ ...transaction('german', '192.0.2.3', NOW + 10), uiLocale: 'de' })
    t.equal((await transactions.findById('german'))?.uiLocale, 'de', 'the language ui_locales chose is kept')
  })
}
