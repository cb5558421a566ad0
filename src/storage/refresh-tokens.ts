import type { Kysely } from 'kysely'
import type { Database, RefreshTokenFamilyRow } from './database.js'
import { fromDbBool, fromDbList, fromDbTime, toDbBool, toDbList } from './convert.js'

/** One authorization that yields refresh tokens; revoking it revokes every token in it. */
export interface RefreshTokenFamily {
  id: string
  clientId: string
  userId: string | null
  scopes: string[]
  audience: string
  authTime: number | null
  beganWithOpenid: boolean
  createdAt: number
  revokedAt: number | null
}

export interface RefreshToken {
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  tokenHash: string
  familyId: string
  createdAt: number
  expiresAt: number
  rotatedAt: number | null
}

export interface RefreshTokenRepository {
  findFamily(id: string): Promise<RefreshTokenFamily | undefined>
  findByHash(tokenHash: string): Promise<RefreshToken | undefined>
}

function toFamily(row: RefreshTokenFamilyRow): RefreshTokenFamily {
  return {
    id: row.id,
    clientId: row.client_id,
    userId: row.user_id,
    scopes: fromDbList(row.scopes),
    audience: row.audience,
    authTime: row.auth_time === null ? null : fromDbTime(row.auth_time),
    beganWithOpenid: fromDbBool(row.began_with_openid),
    createdAt: fromDbTime(row.created_at),
    revokedAt: row.revoked_at === null ? null : fromDbTime(row.revoked_at),
  }
}

/** Inserts a family; takes the database or a transaction, so it joins a larger change. */
export async function insertFamily(db: Kysely<Database>, family: RefreshTokenFamily): Promise<void> {
  await db
    .insertInto('refresh_token_families')
    .values({
      id: family.id,
      client_id: family.clientId,
      user_id: family.userId,
      scopes: toDbList(family.scopes),
      audience: family.audience,
      auth_time: family.authTime,
      began_with_openid: toDbBool(family.beganWithOpenid),
      created_at: family.createdAt,
      revoked_at: family.revokedAt,
    })
    .execute()
}

export async function insertRefreshToken(db: Kysely<Database>, token: RefreshToken): Promise<void> {
  await db
    .insertInto('refresh_tokens')
    .values({
      token_hash: token.tokenHash,
      family_id: token.familyId,
      created_at: token.createdAt,
      expires_at: token.expiresAt,
      rotated_at: token.rotatedAt,
    })
    .execute()
}

export function refreshTokenRepository(db: Kysely<Database>): RefreshTokenRepository {
  return {
    async findFamily(id) {
      const row = await db.selectFrom('refresh_token_families').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toFamily(row)
    },
    async findByHash(tokenHash) {
      const row = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
      if (!row) return undefined
      return {
        tokenHash: row.token_hash,
        familyId: row.family_id,
        createdAt: fromDbTime(row.created_at),
        expiresAt: fromDbTime(row.expires_at),
        rotatedAt: row.rotated_at === null ? null : fromDbTime(row.rotated_at),
      }
    },
  }
}
