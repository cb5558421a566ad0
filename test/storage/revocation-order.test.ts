import t from 'tap'
import { revokeGrantsOf } from '../../src/storage/revocation.js'
import { repositories } from '../../src/storage/repositories.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const USER = '00000000-0000-4000-8000-000000000001'

/**
 * A rotation in progress holds its family's row lock and has written its access token, not yet
 * committed, when a revocation starts. The revocation must mark the family first (waiting for
 * the lock) and copy the jtis after, or the rotation's token escapes. Only PostgreSQL runs two
 * transactions at once; SQLite serialises them, and the case passes there trivially.
 */
for (const dialect of dialects(t)) {
  for (const revoker of ['user grants', 'client removal'] as const) {
    t.test(`${dialect.name}: ${revoker} copies the jti of a rotation that held the family's lock`, async (t) => {
      const store = await dialect.open(t)
      const repos = repositories(store)
      await repos.users.create({ id: USER, username: 'alice', passwordHash: 'h', email: null, name: null, createdAt: NOW })
      await repos.clients.create({ id: 'lk_a', name: 'App', secretHash: 'a'.repeat(64), isPublic: false, redirectUris: [], postLogoutRedirectUris: [], grantTypes: ['refresh_token'], scopes: ['openid'], audience: null, resources: [], createdAt: NOW })
      await repos.refreshTokens.createFamily({
        family: { id: 'fam', clientId: 'lk_a', userId: USER, scopes: ['openid'], audience: 'https://api', authTime: NOW, amr: ['pwd'], beganWithOpenid: false, createdAt: NOW, revokedAt: null },
        token: { tokenHash: 'rt-1', familyId: 'fam', createdAt: NOW, expiresAt: NOW + 1e6, rotatedAt: null },
        accessToken: { jti: 'jti-1', clientId: 'lk_a', codeId: null, familyId: 'fam', createdAt: NOW, expiresAt: NOW + 1e6 },
      })
      let revoking: Promise<unknown> | undefined
      await store.db.transaction().execute(async (trx) => {
        // What rotate does: the family's row lock, then the new access token.
        await trx.updateTable('refresh_token_families').set({ revoked_at: null }).where('id', '=', 'fam').where('revoked_at', 'is', null).execute()
        await trx.insertInto('access_tokens').values({ jti: 'jti-2', client_id: 'lk_a', code_id: null, family_id: 'fam', created_at: NOW, expires_at: NOW + 1e6 }).execute()
        if (dialect.name === 'sqlite') return
        revoking = revoker === 'user grants'
          ? store.db.transaction().execute((other) => revokeGrantsOf(other, { userId: USER }, NOW + 1))
          : repos.clients.remove('lk_a', NOW + 1)
        // Long enough for the revocation to reach the family's lock and wait on it.
        await new Promise((resolve) => setTimeout(resolve, 300))
      })
      revoking ??= revoker === 'user grants' ? store.db.transaction().execute((other) => revokeGrantsOf(other, { userId: USER }, NOW + 1)) : repos.clients.remove('lk_a', NOW + 1)
      await revoking
      t.ok(await repos.accessTokens.isRevoked('jti-1'))
      t.ok(await repos.accessTokens.isRevoked('jti-2'), "the rotation's access token is revoked too")
    })
  }
}
