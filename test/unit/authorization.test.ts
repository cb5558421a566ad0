import t from 'tap'
import { codeIssuance, type ApprovedGrant } from '../../src/authorization/code-issuance.js'
import { consentCanBeRemembered, consentPolicy } from '../../src/authorization/consent.js'
import { loginSessions, sessionSatisfies, signInIsRecent, SESSION_TTL_MS } from '../../src/authorization/login-session.js'
import { authorizationTransactions, grantOf, MAX_OPEN_TRANSACTIONS_PER_ADDRESS, TooManyTransactionsError, TRANSACTION_TTL_MS } from '../../src/authorization/transactions.js'
import { OAuthError } from '../../src/errors.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import type { AuthorizationCode } from '../../src/storage/authorization-codes.js'
import type { AuthorizationTransaction, AuthorizationTransactionRepository } from '../../src/storage/authorization-transactions.js'
import type { Client } from '../../src/storage/clients.js'
import type { Consent } from '../../src/storage/consents.js'
import type { LoginSession, LoginSessionRepository } from '../../src/storage/login-sessions.js'
import { FakeClock } from '../helpers/clock.js'

// Each module takes only the repository it uses, so these in-memory ones stand in for storage.

function transactionStore(): AuthorizationTransactionRepository & { rows: Map<string, AuthorizationTransaction> } {
  const rows = new Map<string, AuthorizationTransaction>()
  return {
    rows,
    async create(tx) {
      rows.set(tx.id, { ...tx })
    },
    async findById(id) {
      const tx = rows.get(id)
      return tx && { ...tx }
    },
    async setUser(id, user) {
      const tx = rows.get(id)
      if (tx) Object.assign(tx, { userId: user?.userId ?? null, authTime: user?.authTime ?? null, amr: user ? [...user.amr] : null, pendingUserId: null, pendingAmr: null })
    },
    async setPending(id, pending) {
      const tx = rows.get(id)
      if (tx) Object.assign(tx, { userId: null, authTime: null, amr: null, pendingUserId: pending?.userId ?? null, pendingAmr: pending ? [...pending.amr] : null })
    },
    async setPasskeyChallenge(id, challenge) {
      const tx = rows.get(id)
      if (tx) tx.passkeyChallenge = challenge
    },
    async takePasskeyChallenge(id) {
      const tx = rows.get(id)
      const challenge = tx?.passkeyChallenge ?? null
      if (tx) tx.passkeyChallenge = null
      return challenge
    },
    async complete(id, now) {
      const tx = rows.get(id)
      if (!tx || tx.completedAt !== null) return false
      tx.completedAt = now
      return true
    },
    async countOpen(address, now, limit) {
      const open = [...rows.values()]
        .filter((tx) => tx.address === address && tx.expiresAt > now && tx.completedAt === null)
        .map((tx) => tx.expiresAt)
        .sort((a, b) => a - b)
        .slice(0, limit)
      return { count: open.length, firstExpiresAt: open[0] ?? null }
    },
  }
}

function sessionStore(): LoginSessionRepository & { rows: Map<string, LoginSession> } {
  const rows = new Map<string, LoginSession>()
  return {
    rows,
    async create(session) {
      rows.set(session.idHash, session)
      return true
    },
    async findActive(idHash, now) {
      const session = rows.get(idHash)
      return session && session.expiresAt > now ? session : undefined
    },
    async setPasskeyChallenge() {},
    async takePasskeyChallenge() {
      return null
    },
    async delete(idHash) {
      rows.delete(idHash)
    },
    async listForUser(userId, now) {
      return [...rows.values()].filter((s) => s.userId === userId && s.expiresAt > now)
    },
    async endAllFor(userId) {
      const ended = [...rows.values()].filter((s) => s.userId === userId)
      for (const s of ended) rows.delete(s.idHash)
      return ended.length
    },
  }
}

const GRANT = {
  clientId: 'lk_client',
  redirectUri: 'https://app.example.com/cb?x=1',
  state: 'st',
  scopes: ['openid', 'profile'],
  resource: 'https://api.example.com',
  codeChallenge: 'challenge',
  codeChallengeMethod: 'S256',
  nonce: 'n-1',
}

const client = (isPublic: boolean): Client => ({
  id: 'lk_client',
  name: 'App',
  secretHash: null,
  isPublic,
  redirectUris: [],
  postLogoutRedirectUris: [],
  grantTypes: [],
  scopes: [],
  audience: null,
  resources: [],
  createdAt: 0,
})

t.test('transactions', async (t) => {
  const clock = new FakeClock()
  const store = transactionStore()
  const transactions = authorizationTransactions({ transactions: store, clock })
  const browserId = 'b'.repeat(43)
  const ADDRESS = '192.0.2.1'

  t.test('start stores hashes of the browser id and CSRF token, never the values', async (t) => {
    const { tx, csrfToken } = await transactions.start({ grant: GRANT, browserId, forceConsent: true, signedIn: undefined, loginHint: 'alice', maxAgeSeconds: 30, clientAddress: ADDRESS })
    const row = store.rows.get(tx.id) as AuthorizationTransaction
    t.equal(row.browserHash, sha256Hex(browserId))
    t.equal(row.csrfHash, sha256Hex(csrfToken))
    t.match(csrfToken, /^[A-Za-z0-9_-]{43}$/, '256 random bits')
    t.equal(row.expiresAt, clock.now() + TRANSACTION_TTL_MS)
    t.same([row.userId, row.authTime, row.completedAt, row.forceConsent, row.loginHint, row.maxAgeSeconds], [null, null, null, true, 'alice', 30])
    t.same(grantOf(row), GRANT, 'the grant is carried whole')
  })

  t.test('start records a session that already satisfies the request', async (t) => {
    const { tx } = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: { userId: 'u1', authTime: 5, amr: ['pwd'] }, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: ADDRESS })
    t.same([tx.userId, tx.authTime, tx.loginHint, tx.maxAgeSeconds], ['u1', 5, null, null])
  })

  t.test('load needs the browser that started it and its CSRF token', async (t) => {
    const { tx, csrfToken } = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: ADDRESS })
    t.equal((await transactions.load({ transactionId: tx.id, csrfToken, browserId })).id, tx.id)
    const forged = [
      { transactionId: tx.id, csrfToken, browserId: 'c'.repeat(43) },
      { transactionId: tx.id, csrfToken: 'wrong', browserId },
      { transactionId: tx.id, csrfToken: undefined, browserId },
      { transactionId: tx.id, csrfToken, browserId: undefined },
      { transactionId: 'unknown', csrfToken, browserId },
      { transactionId: undefined, csrfToken, browserId },
    ]
    for (const form of forged) {
      await t.rejects(transactions.load(form), { code: 'invalid_request', status: 403 })
    }
  })

  t.test('load refuses an expired or completed transaction; complete works once', async (t) => {
    const open = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: ADDRESS })
    const form = { transactionId: open.tx.id, csrfToken: open.csrfToken, browserId }
    await transactions.complete(open.tx.id)
    await t.rejects(transactions.complete(open.tx.id), new OAuthError('invalid_request', 'this sign-in request has already been completed', { reason: 'completed' }))
    await t.rejects(transactions.load(form), { message: 'this sign-in request has already been completed' })
    const later = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: ADDRESS })
    clock.advance(TRANSACTION_TTL_MS / 1000)
    await t.rejects(transactions.load({ transactionId: later.tx.id, csrfToken: later.csrfToken, browserId }), { message: 'this sign-in request has expired' })
  })

  t.test('start records the client network: an IPv4 address as it is, an IPv6 one as its /64', async (t) => {
    const v4 = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: '::ffff:192.0.2.7' })
    t.equal(store.rows.get(v4.tx.id)?.address, '192.0.2.7')
    const v6 = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: '2001:db8:1:2::5' })
    t.equal(store.rows.get(v6.tx.id)?.address, '2001:db8:1:2::/64')
  })

  t.test('setUser records and forgets the user', async (t) => {
    const { tx } = await transactions.start({ grant: GRANT, browserId, forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: ADDRESS })
    await transactions.setUser(tx.id, { userId: 'u2', authTime: 9, amr: ['pwd', 'otp', 'mfa'] })
    t.same([store.rows.get(tx.id)?.userId, store.rows.get(tx.id)?.authTime], ['u2', 9])
    await transactions.setUser(tx.id, null)
    t.same([store.rows.get(tx.id)?.userId, store.rows.get(tx.id)?.authTime], [null, null])
  })
})

t.test('the open transactions of one address are capped', async (t) => {
  const clock = new FakeClock()
  const store = transactionStore()
  const transactions = authorizationTransactions({ transactions: store, clock, maxOpenPerAddress: 3 })
  const start = (clientAddress: string) =>
    transactions.start({ grant: GRANT, browserId: 'b'.repeat(43), forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress })

  t.equal(MAX_OPEN_TRANSACTIONS_PER_ADDRESS, 1000, 'the production cap')
  const first = await start('2001:db8:1:2::1')
  clock.advance(60)
  await start('2001:db8:1:2::2')
  await start('2001:db8:1:2::3')
  t.equal(store.rows.size, 3)
  const refused = await start('2001:db8:1:2::4').then(
    () => undefined,
    (error: unknown) => error,
  )
  t.type(refused, TooManyTransactionsError, 'one /64 is one address')
  t.match(refused, { code: 'temporarily_unavailable', status: 429, retryAfterSeconds: TRANSACTION_TTL_MS / 1000 - 60 })
  t.equal(store.rows.size, 3, 'nothing stored')

  await start('2001:db8:1:3::1')
  await start('192.0.2.1')
  t.equal(store.rows.size, 5, 'other addresses are counted apart')

  await transactions.complete(first.tx.id)
  await start('2001:db8:1:2::5')
  t.equal(store.rows.size, 6, 'a completed transaction frees its place at once')
  await t.rejects(start('2001:db8:1:2::6'), TooManyTransactionsError)

  clock.advance(TRANSACTION_TTL_MS / 1000)
  await start('2001:db8:1:2::6')
  clock.advance(30)
  await start('2001:db8:1:2::7')
  await start('2001:db8:1:2::8')
  t.equal(store.rows.size, 9, 'expired ones free their places')
  const again = await start('2001:db8:1:2::9').catch((error: unknown) => error)
  t.match(again, { retryAfterSeconds: TRANSACTION_TTL_MS / 1000 - 30 }, 'Retry-After: until the first open one expires')

  const closed = authorizationTransactions({ transactions: transactionStore(), clock, maxOpenPerAddress: 0 })
  const none = await closed.start({ grant: GRANT, browserId: 'b'.repeat(43), forceConsent: false, signedIn: undefined, loginHint: undefined, maxAgeSeconds: undefined, clientAddress: '192.0.2.1' }).catch((error: unknown) => error)
  t.match(none, { retryAfterSeconds: TRANSACTION_TTL_MS / 1000 }, 'with no place at all, a transaction lifetime')
})

t.test('consent', async (t) => {
  t.test('only confidential clients and https redirect URIs may skip a repeated consent (OAuth 2.1 §7.3.1)', async (t) => {
    t.ok(consentCanBeRemembered({ isPublic: false }, 'http://127.0.0.1:8080/cb'))
    t.ok(consentCanBeRemembered({ isPublic: true }, 'https://spa.example.com/cb'))
    t.notOk(consentCanBeRemembered({ isPublic: true }, 'http://127.0.0.1:8080/cb'), 'native app on loopback')
    t.notOk(consentCanBeRemembered({ isPublic: true }, 'com.example.app:/cb'), 'native app with a private-use scheme')
  })

  function consentStore() {
    const saved: Consent[] = []
    const find = async (clientId: string, userId: string, resource: string) =>
      saved.find((c) => c.clientId === clientId && c.userId === userId && c.resource === resource)
    return {
      saved,
      find,
      async grant(clientId: string, userId: string, resource: string, scopes: readonly string[], now: number) {
        const existing = await find(clientId, userId, resource)
        if (!existing) {
          saved.push({ clientId, userId, resource, scopes: [...scopes], createdAt: now, updatedAt: now })
          return
        }
        existing.scopes = [...new Set([...existing.scopes, ...scopes])]
        existing.updatedAt = now
      },
    }
  }
  const API = 'https://api.example.com'

  t.test('a remembered consent covers any subset of its scopes, unless prompt=consent', async (t) => {
    const clock = new FakeClock()
    const consents = consentStore()
    const policy = consentPolicy({ consents, clock })
    const request = { redirectUri: 'https://app.example.com/cb', userId: 'u1', scopes: ['openid'], resource: API, forceConsent: false }
    t.ok(await policy.needsConsent(client(false), request), 'nothing remembered yet')
    await policy.remember('lk_client', 'u1', { scopes: ['openid', 'profile'], resource: API })
    t.same(consents.saved[0], { clientId: 'lk_client', userId: 'u1', resource: API, scopes: ['openid', 'profile'], createdAt: clock.now(), updatedAt: clock.now() })
    t.notOk(await policy.needsConsent(client(false), request))
    t.notOk(await policy.needsConsent(client(false), { ...request, scopes: ['profile', 'openid'] }))
    t.ok(await policy.needsConsent(client(false), { ...request, scopes: ['openid', 'email'] }), 'a scope beyond it')
    t.ok(await policy.needsConsent(client(false), { ...request, userId: 'u2' }), 'another user')
    t.ok(await policy.needsConsent(client(false), { ...request, forceConsent: true }), 'prompt=consent')
    t.ok(await policy.needsConsent(client(true), { ...request, redirectUri: 'http://127.0.0.1/cb' }), 'a native app')
  })

  t.test('a remembered consent covers only the resources it was given for (RFC 8707)', async (t) => {
    const consents = consentStore()
    const policy = consentPolicy({ consents, clock: new FakeClock() })
    const other = 'https://other.example.com'
    const request = { redirectUri: 'https://app.example.com/cb', userId: 'u1', scopes: ['openid'], resource: API, forceConsent: false }
    await policy.remember('lk_client', 'u1', { scopes: ['openid'], resource: API })
    t.notOk(await policy.needsConsent(client(false), request), 'the resource consented to')
    t.ok(await policy.needsConsent(client(false), { ...request, resource: other }), 'consent to one API is not consent to another')
    t.ok(await policy.needsConsent(client(false), { ...request, resource: `${API}/` }), 'compared exactly')
    await policy.remember('lk_client', 'u1', { scopes: ['openid'], resource: other })
    t.same(consents.saved.map((c) => c.resource), [API, other], 'remembered per resource')
    t.notOk(await policy.needsConsent(client(false), { ...request, resource: other }))
    t.notOk(await policy.needsConsent(client(false), request), 'the first is still covered')
  })

  t.test('scopes allowed for one resource are not allowed for another', async (t) => {
    const consents = consentStore()
    const policy = consentPolicy({ consents, clock: new FakeClock() })
    const other = 'https://other.example.com'
    await policy.remember('lk_client', 'u1', { scopes: ['openid', 'profile'], resource: API })
    await policy.remember('lk_client', 'u1', { scopes: ['openid'], resource: other })
    const request = { redirectUri: 'https://app.example.com/cb', userId: 'u1', scopes: ['openid', 'profile'], resource: other, forceConsent: false }
    t.ok(await policy.needsConsent(client(false), request), 'profile was allowed for the first resource only')
    t.notOk(await policy.needsConsent(client(false), { ...request, resource: API }))
  })
})

t.test('login sessions', async (t) => {
  t.test('start stores only the hash, replaces the previous session, and find honours expiry', async (t) => {
    const clock = new FakeClock()
    const store = sessionStore()
    const sessions = loginSessions({ sessions: store, clock })
    const first = await sessions.start('u1', undefined, ['pwd'])
    if (!first) throw new Error('not started')
    t.equal(first.authTime, clock.now())
    t.same([...store.rows.keys()], [sha256Hex(first.sessionId)])
    t.equal(store.rows.get(sha256Hex(first.sessionId))?.expiresAt, clock.now() + SESSION_TTL_MS)
    t.equal((await sessions.find(first.sessionId))?.userId, 'u1')
    const second = await sessions.start('u2', first.sessionId, ['hwk'])
    if (!second) throw new Error('not started')
    t.not(second.sessionId, first.sessionId)
    t.same([...store.rows.keys()], [sha256Hex(second.sessionId)], 'the previous session is gone (no fixation)')
    t.equal(await sessions.find(first.sessionId), undefined)
    t.equal(await sessions.find(undefined), undefined)
    t.equal(await sessions.find(''), undefined)
    clock.advance(SESSION_TTL_MS / 1000)
    t.equal(await sessions.find(second.sessionId), undefined, 'expired')
  })

  t.test('end deletes the session; an unknown or empty one is fine', async (t) => {
    const store = sessionStore()
    const sessions = loginSessions({ sessions: store, clock: new FakeClock() })
    const { sessionId } = (await sessions.start('u1', undefined, ['pwd'])) ?? { sessionId: '' }
    await sessions.end('')
    await sessions.end('unknown')
    t.equal(store.rows.size, 1)
    await sessions.end(sessionId)
    t.equal(store.rows.size, 0)
  })

  t.test('max_age and id_token_hint decide whether a session counts (OIDC Core §3.1.2.1)', async (t) => {
    const now = 1_000_000
    t.ok(signInIsRecent(now - 60_000, undefined, now))
    t.ok(signInIsRecent(now - 60_000, null, now))
    t.ok(signInIsRecent(now - 60_000, 60, now), 'exactly max_age old')
    t.notOk(signInIsRecent(now - 60_001, 60, now))
    t.notOk(signInIsRecent(now - 1, 0, now), 'max_age=0 needs a new sign-in')
    const session = { userId: 'u1', authTime: now - 10_000 }
    t.ok(sessionSatisfies(session, { maxAgeSeconds: undefined, hintSubject: undefined }, now))
    t.ok(sessionSatisfies(session, { maxAgeSeconds: 10, hintSubject: 'u1' }, now))
    t.notOk(sessionSatisfies(session, { maxAgeSeconds: 9, hintSubject: 'u1' }, now), 'too old')
    t.notOk(sessionSatisfies(session, { maxAgeSeconds: undefined, hintSubject: 'u2' }, now), "another user's hint")
  })
})

t.test('code issuance stores the code hashed and bound to the grant, and redirects with code, state and iss', async (t) => {
  const clock = new FakeClock()
  const created: AuthorizationCode[] = []
  const codes = codeIssuance({
    codes: { create: async (code: AuthorizationCode) => void created.push(code) } as never,
    clock,
    codeTtlSeconds: 60,
    issuer: 'https://auth.example.com',
  })
  const grant: ApprovedGrant = { ...GRANT, userId: 'u1', authTime: clock.now() - 5000, amr: ['pwd', 'otp', 'mfa'] }
  const location = new URL(await codes.issue(grant))
  t.equal(`${location.origin}${location.pathname}`, 'https://app.example.com/cb')
  t.equal(location.searchParams.get('x'), '1', 'the registered query is kept')
  t.equal(location.searchParams.get('state'), 'st')
  t.equal(location.searchParams.get('iss'), 'https://auth.example.com', 'RFC 9207')
  const code = location.searchParams.get('code') as string
  t.match(code, /^[A-Za-z0-9_-]{43}$/)
  const stored = created[0] as AuthorizationCode
  t.equal(stored.codeHash, sha256Hex(code), 'only the hash is stored')
  t.same(
    { clientId: stored.clientId, userId: stored.userId, redirectUri: stored.redirectUri, scopes: stored.scopes, resource: stored.resource, codeChallenge: stored.codeChallenge, codeChallengeMethod: stored.codeChallengeMethod, authTime: stored.authTime, amr: stored.amr, nonce: stored.nonce },
    { clientId: 'lk_client', userId: 'u1', redirectUri: GRANT.redirectUri, scopes: GRANT.scopes, resource: GRANT.resource, codeChallenge: 'challenge', codeChallengeMethod: 'S256', authTime: grant.authTime, amr: ['pwd', 'otp', 'mfa'], nonce: 'n-1' },
  )
  t.same([stored.createdAt, stored.expiresAt, stored.usedAt, stored.familyId], [clock.now(), clock.now() + 60_000, null, null])

  const stateless = new URL(await codes.issue({ ...grant, state: null }))
  t.notOk(stateless.searchParams.has('state'), 'no state when the request had none')
})
