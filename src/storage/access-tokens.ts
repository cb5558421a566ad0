import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import type { Database } from './database.js'

/** Every issued access token, by jti, with what it came from, so a grant can revoke it. */
export interface AccessTokenRecord {
  jti: string
  clientId: string
  codeId: string | null
  familyId: string | null
  createdAt: number
  expiresAt: number
}

export interface AccessTokenRepository {
  findByJti(jti: string): Promise<AccessTokenRecord | undefined>
  isRevoked(jti: string): Promise<boolean>
  /**
   * Records one access token as revoked until it expires (epoch ms), whether or not it was
   * recorded at issue. Revoking it again changes nothing.
   */
  revoke(jti: string, expiresAt: number, now: number): Promise<void>
}

export async function recordAccessToken(db: Kysely<Database>, record: AccessTokenRecord): Promise<void> {
  await db
    .insertInto('access_tokens')
    .values({
      jti: record.jti,
      client_id: record.clientId,
      code_id: record.codeId,
      family_id: record.familyId,
      created_at: record.createdAt,
      expires_at: record.expiresAt,
    })
    .execute()
}

/** Which recorded access tokens to revoke: a condition on the access_tokens table. */
export type AccessTokenFilter = (eb: ExpressionBuilder<Database, 'access_tokens'>) => Expression<SqlBool>

/**
 * Records as revoked, until they expire, every recorded access token the filter selects: one
 * INSERT … SELECT, whatever revokes (a code, a family, a user's grants, a client).
 */
export async function revokeAccessTokensWhere(db: Kysely<Database>, filter: AccessTokenFilter, now: number): Promise<void> {
  await db
    .insertInto('revoked_jtis')
    .columns(['jti', 'revoked_at', 'expires_at'])
    .expression((eb) => eb.selectFrom('access_tokens').select((s) => ['jti', s.val(now).as('revoked_at'), 'expires_at']).where(filter))
    .onConflict((oc) => oc.column('jti').doNothing())
    .execute()
}

/** Records as revoked every access token issued from the code or the family. */
export async function revokeAccessTokensOf(
  db: Kysely<Database>,
  source: { codeId?: string; familyId?: string | null },
  now: number,
): Promise<void> {
  await revokeAccessTokensWhere(
    db,
    (w) =>
      w.or([
        ...(source.codeId ? [w('code_id', '=', source.codeId)] : []),
        ...(source.familyId ? [w('family_id', '=', source.familyId)] : []),
      ]),
    now,
  )
}

export function accessTokenRepository(db: Kysely<Database>): AccessTokenRepository {
  return {
    async findByJti(jti) {
      const row = await db.selectFrom('access_tokens').selectAll().where('jti', '=', jti).executeTakeFirst()
      if (!row) return undefined
      return {
        jti: row.jti,
        clientId: row.client_id,
        codeId: row.code_id,
        familyId: row.family_id,
        createdAt: Number(row.created_at),
        expiresAt: Number(row.expires_at),
      }
    },
    async revoke(jti, expiresAt, now) {
      await db
        .insertInto('revoked_jtis')
        .values({ jti, revoked_at: now, expires_at: expiresAt })
        .onConflict((oc) => oc.column('jti').doNothing())
        .execute()
    },
    async isRevoked(jti) {
      const row = await db.selectFrom('revoked_jtis').select('jti').where('jti', '=', jti).executeTakeFirst()
      return row !== undefined
    },
  }
}
