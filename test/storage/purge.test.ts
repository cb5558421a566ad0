import type { Kysely } from 'kysely'
import t from 'tap'
import type { Store } from '../../src/storage/connect.js'
import type { Database } from '../../src/storage/database.js'
import { PURGE_RULES, purgeExpired, type PurgePolicy } from '../../src/storage/purge.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const HOUR = 3_600_000
const YEAR = 365 * 24 * HOUR
const POLICY: PurgePolicy = { now: NOW, accessTokenTtlMs: HOUR, refreshTokenMaxTtlMs: YEAR }

/** A user, a client, and helpers that insert rows of every purged table. */
async function fixtures(store: Store) {
  const db = store.db
  await db.insertInto('users').values({ id: 'u1', username: 'alice', password_hash: 'x', email: null, name: null, created_at: 0 }).execute()
  await db
    .insertInto('clients')
    .values({ id: 'c1', name: 'App', secret_hash: null, is_public: 1, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', audience: null, resources: '[]', created_at: 0 })
    .execute()
  await db.insertInto('consents').values({ client_id: 'c1', user_id: 'u1', resource: 'https://api.example.com', scopes: '[]', created_at: 0, updated_at: 0 }).execute()
  return {
    transaction: (id: string, expiresAt: number, completedAt: number | null = null) =>
      db
        .insertInto('authorization_transactions')
        .values({
          id, browser_hash: 'b', csrf_hash: 'c', client_id: 'c1', redirect_uri: 'https://app.example.com/cb', state: 's', scopes: '[]',
          resource: 'https://api.example.com', code_challenge: null, code_challenge_method: null, force_consent: 0, user_id: null,
          auth_time: null, created_at: expiresAt - 600_000, expires_at: expiresAt, completed_at: completedAt, nonce: null,
          login_hint: null, max_age: null, address: '192.0.2.1',
        })
        .execute(),
    accountSignIn: (id: string, expiresAt: number, completedAt: number | null = null) =>
      db
        .insertInto('account_sign_ins')
        .values({ id, browser_hash: 'b', csrf_hash: 'c', address: '192.0.2.1', ui_locale: null, pending_user_id: 'u1', pending_amr: '["pwd"]', passkey_challenge: null, created_at: expiresAt - 600_000, expires_at: expiresAt, completed_at: completedAt })
        .execute(),
    session: (id: string, expiresAt: number) =>
      db.insertInto('login_sessions').values({ id_hash: id, user_id: 'u1', auth_time: 0, created_at: 0, expires_at: expiresAt }).execute(),
    code: (id: string, expiresAt: number, familyId: string | null = null) =>
      db
        .insertInto('authorization_codes')
        .values({
          id, code_hash: `hash-${id}`, client_id: 'c1', user_id: 'u1', redirect_uri: 'https://app.example.com/cb', scopes: '[]',
          resource: 'https://api.example.com', code_challenge: null, code_challenge_method: null, auth_time: 0,
          created_at: expiresAt - 60_000, expires_at: expiresAt, used_at: null, family_id: familyId, nonce: null,
        })
        .execute(),
    accessToken: (jti: string, expiresAt: number, from: { codeId?: string; familyId?: string } = {}) =>
      db
        .insertInto('access_tokens')
        .values({ jti, client_id: 'c1', code_id: from.codeId ?? null, family_id: from.familyId ?? null, created_at: expiresAt - HOUR, expires_at: expiresAt })
        .execute(),
    revokedJti: (jti: string, expiresAt: number) => db.insertInto('revoked_jtis').values({ jti, revoked_at: 0, expires_at: expiresAt }).execute(),
    family: (id: string, createdAt: number, revokedAt: number | null = null) =>
      db
        .insertInto('refresh_token_families')
        .values({ id, client_id: 'c1', user_id: 'u1', scopes: '[]', audience: 'https://api.example.com', auth_time: 0, began_with_openid: 0, created_at: createdAt, revoked_at: revokedAt })
        .execute(),
    refreshToken: (hash: string, familyId: string, expiresAt: number, rotatedAt: number | null = null) =>
      db.insertInto('refresh_tokens').values({ token_hash: hash, family_id: familyId, created_at: expiresAt - 30 * 24 * HOUR, expires_at: expiresAt, rotated_at: rotatedAt }).execute(),
    loginAttempt: (key: string, expiresAt: number) =>
      db.insertInto('login_attempts').values({ key_hash: key, failures: 3, locked_until: null, expires_at: expiresAt }).execute(),
    failureCounter: (key: string, expiresAt: number) =>
      (db as unknown as Kysely<Record<string, { key_hash: string; failures: number; expires_at: number }>>)
        .insertInto('failure_counters')
        .values({ key_hash: key, failures: 3, expires_at: expiresAt })
        .execute(),
  }
}

async function keys(db: Kysely<Database>, table: keyof Database, key: string): Promise<string[]> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const rows = await (db as Kysely<any>).selectFrom(table).select(key).execute()
  // Sorted here: the dialects' collations order punctuation differently.
  return rows.map((row: Record<string, string>) => String(row[key])).sort()
}

const ZERO = Object.fromEntries(
  PURGE_RULES.flatMap((rule) => [...(rule.children ?? []).map((c) => c.table), rule.table]).map((table) => [table, 0]),
)

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: purge`, async (t) => {
    t.test('names every purged table, 0 included, and deletes nothing from an empty database', async (t) => {
      const store = await dialect.open(t)
      t.same(await purgeExpired(store.db, POLICY), ZERO)
    })

    t.test('an expired transaction goes, completed or not; an unexpired one stays, completed or not', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      await f.transaction('expired', NOW)
      await f.transaction('expired-completed', NOW - 1, NOW - 5000)
      await f.transaction('open', NOW + 1)
      await f.transaction('completed', NOW + 1, NOW - 5000)
      const deleted = await purgeExpired(store.db, POLICY)
      t.equal(deleted.authorization_transactions, 2)
      t.same(await keys(store.db, 'authorization_transactions', 'id'), ['completed', 'open'])
    })

    t.test('an expired account sign-in goes, completed or not; an unexpired one stays', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      await f.accountSignIn('expired', NOW)
      await f.accountSignIn('expired-completed', NOW - 1, NOW - 5000)
      await f.accountSignIn('open', NOW + 1)
      const deleted = await purgeExpired(store.db, POLICY)
      t.equal(deleted.account_sign_ins, 2)
      t.same(await keys(store.db, 'account_sign_ins', 'id'), ['open'])
    })

    t.test('expired login sessions, jti records, revoked jtis, login attempts and failure counters go', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      for (const [name, expiresAt] of [['old', NOW], ['live', NOW + 1]] as const) {
        await f.session(name, expiresAt)
        await f.accessToken(name, expiresAt)
        await f.revokedJti(name, expiresAt)
        await f.loginAttempt(name, expiresAt)
        await f.failureCounter(name, expiresAt)
      }
      const deleted = await purgeExpired(store.db, POLICY)
      t.same(deleted, { ...ZERO, login_sessions: 1, access_tokens: 1, revoked_jtis: 1, login_attempts: 1, failure_counters: 1 })
      t.same(await keys(store.db, 'login_sessions', 'id_hash'), ['live'])
      t.same(await keys(store.db, 'access_tokens', 'jti'), ['live'])
      t.same(await keys(store.db, 'revoked_jtis', 'jti'), ['live'])
      t.same(await keys(store.db, 'login_attempts', 'key_hash'), ['live'])
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      t.same(await keys(store.db, 'failure_counters' as any, 'key_hash'), ['live'])
    })

    t.test('an expired device authorization goes, approved or not, before the code its approval wrote', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      await f.code('approval', NOW)
      const device = (id: string, expiresAt: number, codeId: string | null) =>
        store.db
          .insertInto('device_authorizations')
          .values({
            id, device_code_hash: `d-${id}`, user_code_hash: `u-${id}`, client_id: 'c1', scopes: '[]', resource: 'https://api.example.com',
            status: codeId ? 'approved' : 'pending', user_id: codeId ? 'u1' : null, auth_time: codeId ? 0 : null, code_id: codeId,
            interval_seconds: 5, last_polled_at: null, address: '192.0.2.1', created_at: expiresAt - 600_000, expires_at: expiresAt, redeemed_at: null,
          })
          .execute()
      await device('expired', NOW, 'approval')
      await device('expired-pending', NOW - 1, null)
      await device('live', NOW + 1, null)
      const deleted = await purgeExpired(store.db, POLICY)
      t.equal(deleted.device_authorizations, 2)
      t.same(await keys(store.db, 'device_authorizations', 'id'), ['live'])
      t.same(await keys(store.db, 'authorization_codes', 'id'), ['approval'], 'the code stays as long as any code does')
    })

    t.test('a code stays an access-token lifetime past its expiry, so a replay still revokes what it yielded', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      await f.code('recent', NOW - HOUR + 1)
      await f.code('old', NOW - HOUR)
      // Only if ACCESS_TOKEN_TTL was longer when it was issued: the record outlives its code, unlinked.
      await f.accessToken('from-old', NOW + HOUR, { codeId: 'old' })
      const deleted = await purgeExpired(store.db, POLICY)
      t.equal(deleted.authorization_codes, 1)
      t.same(await keys(store.db, 'authorization_codes', 'id'), ['recent'])
      const record = await store.db.selectFrom('access_tokens').selectAll().where('jti', '=', 'from-old').executeTakeFirstOrThrow()
      t.equal(record.code_id, null, 'the jti record stays, unlinked from the purged code')
    })

    t.test('a live family keeps its rotated tokens; a dead one goes with its tokens', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      // Live: a rotated token (expired, even) and a current one. Reuse detection needs the rotated ones.
      await f.family('live', NOW - 40 * 24 * HOUR)
      await f.refreshToken('live-rotated-expired', 'live', NOW - 10 * 24 * HOUR, NOW - 35 * 24 * HOUR)
      await f.refreshToken('live-rotated', 'live', NOW + 10 * 24 * HOUR, NOW - 1000)
      await f.refreshToken('live-current', 'live', NOW + 30 * 24 * HOUR)
      // Revoked: kept while access tokens it issued may live, then gone.
      await f.family('revoked-recently', NOW - 24 * HOUR, NOW - HOUR + 1)
      await f.refreshToken('revoked-recently-token', 'revoked-recently', NOW + 24 * HOUR)
      await f.family('revoked', NOW - 24 * HOUR, NOW - HOUR)
      await f.refreshToken('revoked-token', 'revoked', NOW + 24 * HOUR, NOW - 2 * HOUR)
      await f.refreshToken('revoked-token-2', 'revoked', NOW + 24 * HOUR)
      // Every token expired: the same margin.
      await f.family('expired-recently', NOW - 60 * 24 * HOUR)
      await f.refreshToken('expired-recently-token', 'expired-recently', NOW - HOUR + 1)
      await f.family('expired', NOW - 60 * 24 * HOUR)
      await f.refreshToken('expired-token', 'expired', NOW - HOUR)
      await f.refreshToken('expired-rotated', 'expired', NOW - 2 * HOUR, NOW - 30 * 24 * HOUR)
      // Past REFRESH_TOKEN_MAX_TTL (and the margin), whatever its tokens say.
      await f.family('too-old', NOW - YEAR - HOUR)
      await f.refreshToken('too-old-token', 'too-old', NOW + 24 * HOUR)
      await f.family('almost-too-old', NOW - YEAR - HOUR + 1)
      await f.refreshToken('almost-too-old-token', 'almost-too-old', NOW + 24 * HOUR)
      // A code that started a purged family keeps its row, unlinked.
      await f.code('started-expired', NOW + 1, 'expired')

      const deleted = await purgeExpired(store.db, POLICY)
      t.equal(deleted.refresh_token_families, 3)
      t.equal(deleted.refresh_tokens, 5)
      t.same(await keys(store.db, 'refresh_token_families', 'id'), ['almost-too-old', 'expired-recently', 'live', 'revoked-recently'])
      t.same(await keys(store.db, 'refresh_tokens', 'token_hash'), [
        'almost-too-old-token', 'expired-recently-token', 'live-current', 'live-rotated', 'live-rotated-expired', 'revoked-recently-token',
      ])
      const code = await store.db.selectFrom('authorization_codes').select('family_id').where('id', '=', 'started-expired').executeTakeFirstOrThrow()
      t.equal(code.family_id, null)
    })

    t.test('an authenticator-app enrolment left unconfirmed for a day goes; a confirmed app stays however old', async (t) => {
      const store = await dialect.open(t)
      await fixtures(store)
      const DAY = 24 * HOUR
      const factor = (userId: string, createdAt: number, confirmedAt: number | null) =>
        store.db.insertInto('users').values({ id: userId, username: userId, password_hash: 'x', email: null, name: null, created_at: 0 }).execute().then(() =>
          store.db.insertInto('totp_factors').values({ user_id: userId, secret: 'v1:x:y', created_at: createdAt, confirmed_at: confirmedAt, last_step: null }).execute())
      await factor('abandoned', NOW - DAY, null)
      await factor('in-progress', NOW - DAY + 1, null)
      await factor('confirmed', NOW - 10 * YEAR, NOW - 10 * YEAR + 1)
      const deleted = await purgeExpired(store.db, POLICY)
      t.same(deleted, { ...ZERO, totp_factors: 1 })
      t.same(await keys(store.db, 'totp_factors', 'user_id'), ['confirmed', 'in-progress'])
    })

    t.test('consents, users, clients and scopes are never purged', async (t) => {
      const store = await dialect.open(t)
      await fixtures(store)
      const scopes = await keys(store.db, 'scopes', 'name')
      await purgeExpired(store.db, { ...POLICY, now: NOW + 100 * YEAR })
      t.same(await keys(store.db, 'users', 'id'), ['u1'])
      t.same(await keys(store.db, 'clients', 'id'), ['c1'])
      t.same(await keys(store.db, 'consents', 'client_id'), ['c1'])
      t.same(await keys(store.db, 'scopes', 'name'), scopes)
    })

    t.test('works in batches until fewer than a batch are left', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      for (let i = 0; i < 7; i++) await f.transaction(`old-${i}`, NOW - i)
      await f.transaction('open', NOW + 1)
      for (let i = 0; i < 3; i++) {
        await f.family(`dead-${i}`, 0, NOW - 2 * HOUR)
        for (let j = 0; j < 3; j++) await f.refreshToken(`dead-${i}-${j}`, `dead-${i}`, NOW - 2 * HOUR)
      }
      const deleted = await purgeExpired(store.db, POLICY, 2)
      t.equal(deleted.authorization_transactions, 7)
      t.equal(deleted.refresh_token_families, 3)
      t.equal(deleted.refresh_tokens, 9)
      t.same(await keys(store.db, 'authorization_transactions', 'id'), ['open'])
      t.same(await keys(store.db, 'refresh_tokens', 'token_hash'), [])
    })

    t.test('several purges at once delete each row once and fail nowhere', async (t) => {
      const store = await dialect.open(t)
      const f = await fixtures(store)
      for (let i = 0; i < 30; i++) {
        await f.transaction(`old-${i}`, NOW - i)
        await f.accessToken(`old-${i}`, NOW - i)
      }
      await f.transaction('open', NOW + 1)
      const runs = await Promise.all([1, 2, 3].map(() => purgeExpired(store.db, POLICY, 4)))
      t.equal(runs.reduce((sum, run) => sum + (run.authorization_transactions ?? 0), 0), 30)
      t.equal(runs.reduce((sum, run) => sum + (run.access_tokens ?? 0), 0), 30)
      t.same(await keys(store.db, 'authorization_transactions', 'id'), ['open'])
    })
  })
}
