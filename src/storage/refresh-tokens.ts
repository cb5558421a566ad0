import type { Kysely } from 'kysely'
import { fromDbAmr, toDbAmr, type AuthMethod } from './convert.js'
import type { Database, RefreshTokenFamilyRow, RefreshTokenRow } from './database.js'
import { fromDbBool, fromDbList, fromDbTime, toDbBool, toDbList } from './convert.js'
import { recordAccessToken, revokeAccessTokensOf, type AccessTokenRecord } from './access-tokens.js'
import { lockActiveUser } from './users.js'
import { lockLiveRow } from './row-lock.js'

/** One authorization that yields refresh tokens; revoking it revokes every token in it. */
export interface RefreshTokenFamily {
  id: string
  clientId: string
  userId: string | null
  scopes: string[]
  audience: string
  authTime: number | null
  /**
   * How the user signed in (RFC 8176): every token of the family says it. Null for a family
   * without a user; a user's row from before second factors reads as ["pwd"].
   */
  amr: AuthMethod[] | null
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

/** What one refresh writes, all or nothing. */
export interface Rotation {
  /** Hash of the presented token, which stops working. */
  presentedHash: string
  /** Its successor, in the same family. */
  token: RefreshToken
  accessToken: AccessTokenRecord
  now: number
  /** The family's user, as read with the presented token (a family's user never changes); null for none. */
  userId: string | null
}

/**
 * `rotated`: the presented token was current and its successor is stored. `reused`: it was
 * already rotated (or lost a race with a concurrent rotation); nothing was written.
 * `revoked`: its family was revoked; nothing was written. `userInactive`: the family's user is
 * disabled or removed; nothing was written.
 */
export type RotationResult = 'rotated' | 'reused' | 'revoked' | 'userInactive'

export interface RefreshTokenRepository {
  findFamily(id: string): Promise<RefreshTokenFamily | undefined>
  findByHash(tokenHash: string): Promise<RefreshToken | undefined>
  /** A token and its family in one query (the lookup of /token, /revoke and /introspect). */
  findWithFamily(tokenHash: string): Promise<{ token: RefreshToken; family: RefreshTokenFamily } | undefined>
  /**
   * Starts a family with its first refresh token and the access token issued with it. False,
   * with nothing written, when the family's user is disabled or removed (see lockActiveUser).
   */
  createFamily(input: { family: RefreshTokenFamily; token: RefreshToken; accessToken: AccessTokenRecord }): Promise<boolean>
  /** Replaces a refresh token by its successor atomically: of concurrent calls, one rotates. */
  rotate(rotation: Rotation): Promise<RotationResult>
  /**
   * RFC 9700 §4.14.2: revokes the family, so every refresh token in it, and records every
   * access token issued from it as revoked. False when it was already revoked.
   */
  revokeFamily(familyId: string, now: number): Promise<boolean>
}

function toFamily(row: RefreshTokenFamilyRow): RefreshTokenFamily {
  return {
    id: row.id,
    clientId: row.client_id,
    userId: row.user_id,
    scopes: fromDbList(row.scopes),
    audience: row.audience,
    authTime: row.auth_time === null ? null : fromDbTime(row.auth_time),
    amr: row.user_id === null ? null : fromDbAmr(row.amr),
    beganWithOpenid: fromDbBool(row.began_with_openid),
    createdAt: fromDbTime(row.created_at),
    revokedAt: row.revoked_at === null ? null : fromDbTime(row.revoked_at),
  }
}

function toToken(row: Pick<RefreshTokenRow, 'token_hash' | 'family_id' | 'created_at' | 'expires_at' | 'rotated_at'>): RefreshToken {
  return {
    tokenHash: row.token_hash,
    familyId: row.family_id,
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
    rotatedAt: row.rotated_at === null ? null : fromDbTime(row.rotated_at),
  }
}

/** Thrown inside a rotation to roll it back when the family turns out to be revoked. */
class FamilyRevoked extends Error {}

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
      amr: family.amr === null ? null : toDbAmr(family.amr),
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
    async createFamily({ family, token, accessToken }) {
      return db.transaction().execute(async (trx) => {
        if (family.userId !== null && !(await lockActiveUser(trx, family.userId))) return false
        await insertFamily(trx, family)
        await insertRefreshToken(trx, token)
        await recordAccessToken(trx, accessToken)
        return true
      })
    },
    async rotate({ presentedHash, token, accessToken, now, userId }) {
      return db.transaction().execute(async (trx) => {
        // The user's row lock first (the order disable takes its locks in): a disable that
        // committed is seen here, one that did not waits and then revokes this rotation.
        if (userId !== null && !(await lockActiveUser(trx, userId))) return 'userInactive' as const
        // The UPDATE is the claim: PostgreSQL makes a concurrent claim wait on the row and then
        // re-check rotated_at, SQLite runs one write transaction at a time; either way one wins.
        const claimed = await trx
          .updateTable('refresh_tokens')
          .set({ rotated_at: now })
          .where('token_hash', '=', presentedHash)
          .where('rotated_at', 'is', null)
          .executeTakeFirst()
        if (Number(claimed.numUpdatedRows) !== 1) return 'reused'
        // The family must still be live, and stay so until commit: a concurrent revocation
        // either lands before (and is seen here) or waits and then revokes this rotation too.
        if (!(await lockLiveRow(trx, { table: 'refresh_token_families', id: token.familyId, endedBy: 'revoked_at' }))) throw new FamilyRevoked()
        await insertRefreshToken(trx, token)
        await recordAccessToken(trx, accessToken)
        return 'rotated' as const
      }).catch((error: unknown) => {
        if (error instanceof FamilyRevoked) return 'revoked' as const
        throw error
      })
    },
    async revokeFamily(familyId, now) {
      return db.transaction().execute(async (trx) => {
        const revoked = await trx
          .updateTable('refresh_token_families')
          .set({ revoked_at: now })
          .where('id', '=', familyId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst()
        await revokeAccessTokensOf(trx, { familyId }, now)
        return Number(revoked.numUpdatedRows) === 1
      })
    },
    async findFamily(id) {
      const row = await db.selectFrom('refresh_token_families').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toFamily(row)
    },
    async findByHash(tokenHash) {
      const row = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
      return row && toToken(row)
    },
    async findWithFamily(tokenHash) {
      const row = await db
        .selectFrom('refresh_tokens as t')
        .innerJoin('refresh_token_families as f', 'f.id', 't.family_id')
        .select(['t.token_hash', 't.family_id', 't.created_at as token_created_at', 't.expires_at', 't.rotated_at'])
        .select(['f.id', 'f.client_id', 'f.user_id', 'f.scopes', 'f.audience', 'f.auth_time', 'f.amr', 'f.began_with_openid', 'f.created_at', 'f.revoked_at'])
        .where('t.token_hash', '=', tokenHash)
        .executeTakeFirst()
      if (!row) return undefined
      return { token: toToken({ ...row, created_at: row.token_created_at }), family: toFamily(row) }
    },
  }
}
