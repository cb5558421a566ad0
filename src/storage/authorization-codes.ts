import type { Kysely } from 'kysely'
import { fromDbAmr, toDbAmr, type AuthMethod } from './convert.js'
import type { AuthorizationCodeRow, Database } from './database.js'
import { fromDbList, fromDbTime, toDbList } from './convert.js'
import { recordAccessToken, revokeAccessTokensOf, type AccessTokenRecord } from './access-tokens.js'
import { insertFamily, insertRefreshToken, type RefreshToken, type RefreshTokenFamily } from './refresh-tokens.js'
import { lockActiveUser } from './users.js'

export interface AuthorizationCode {
  id: string
  /** SHA-256 (hex) of the code; the code itself is never stored. */
  codeHash: string
  clientId: string
  userId: string
  redirectUri: string
  scopes: string[]
  resource: string
  codeChallenge: string | null
  codeChallengeMethod: string | null
  authTime: number
  /** How the user signed in (RFC 8176), for the tokens' amr and acr; older rows read as ["pwd"]. */
  amr: AuthMethod[]
  createdAt: number
  expiresAt: number
  usedAt: number | null
  familyId: string | null
  /** OIDC Core §3.1.2.1: the nonce of the authorization request, for the ID token. */
  nonce: string | null
}

/** What one code exchange writes, all or nothing. */
export interface CodeRedemption {
  codeId: string
  /** The code's user, as read with the code (a code's user never changes). */
  userId: string
  now: number
  accessToken: AccessTokenRecord
  refresh?: { family: RefreshTokenFamily; token: RefreshToken }
}

/**
 * `redeemed`: the code was marked used and the tokens stored. `used`: a concurrent redemption
 * won (or the code is gone). `userInactive`: the code's user is disabled or removed. Nothing is
 * written but in the first case.
 */
export type RedeemResult = 'redeemed' | 'used' | 'userInactive'

/** Thrown inside a redemption to roll it back when another one claimed the code first. */
class CodeAlreadyUsed extends Error {}

export interface AuthorizationCodeRepository {
  create(code: AuthorizationCode): Promise<void>
  findByHash(codeHash: string): Promise<AuthorizationCode | undefined>
  /** A code by its id (the one a device approval wrote: its value was never handed out). */
  findById(id: string): Promise<AuthorizationCode | undefined>
  /** Marks the code used and stores the tokens issued for it, in one transaction. */
  redeem(redemption: CodeRedemption): Promise<RedeemResult>
  /** RFC 9700 §4.2.4: revokes the family and every access token issued from a replayed code. */
  revokeIssuedFrom(codeId: string, now: number): Promise<void>
}

function toCode(row: AuthorizationCodeRow): AuthorizationCode {
  return {
    id: row.id,
    codeHash: row.code_hash,
    clientId: row.client_id,
    userId: row.user_id,
    redirectUri: row.redirect_uri,
    scopes: fromDbList(row.scopes),
    resource: row.resource,
    codeChallenge: row.code_challenge,
    codeChallengeMethod: row.code_challenge_method,
    authTime: fromDbTime(row.auth_time),
    amr: fromDbAmr(row.amr),
    createdAt: fromDbTime(row.created_at),
    expiresAt: fromDbTime(row.expires_at),
    usedAt: row.used_at === null ? null : fromDbTime(row.used_at),
    familyId: row.family_id,
    nonce: row.nonce,
  }
}

/** Stores a new code: on its own, or within a caller's transaction (a device approval). */
export async function insertCode(db: Kysely<Database>, code: AuthorizationCode): Promise<void> {
  await db
    .insertInto('authorization_codes')
    .values({
      id: code.id,
      code_hash: code.codeHash,
      client_id: code.clientId,
      user_id: code.userId,
      redirect_uri: code.redirectUri,
      scopes: toDbList(code.scopes),
      resource: code.resource,
      code_challenge: code.codeChallenge,
      code_challenge_method: code.codeChallengeMethod,
      auth_time: code.authTime,
      amr: toDbAmr(code.amr),
      created_at: code.createdAt,
      expires_at: code.expiresAt,
      used_at: code.usedAt,
      family_id: code.familyId,
      nonce: code.nonce,
    })
    .execute()
}

export function authorizationCodeRepository(db: Kysely<Database>): AuthorizationCodeRepository {
  return {
    async create(code) {
      await insertCode(db, code)
    },
    async findById(id) {
      const row = await db.selectFrom('authorization_codes').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toCode(row)
    },
    async findByHash(codeHash) {
      const row = await db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst()
      return row && toCode(row)
    },
    async redeem({ codeId, userId, now, accessToken, refresh }) {
      return db
        .transaction()
        .execute(async (trx): Promise<RedeemResult> => {
          // The user's row lock first (the order disable takes its locks in): a disable that
          // committed is seen here, one that did not waits and then revokes what this writes.
          if (!(await lockActiveUser(trx, userId))) return 'userInactive'
          // The family first, so the claim below can name it in the same UPDATE.
          if (refresh) {
            await insertFamily(trx, refresh.family)
            await insertRefreshToken(trx, refresh.token)
          }
          // Single use (RFC 6749 §4.1.2): only the request whose UPDATE changes the row goes on;
          // any other (or a code gone since) rolls back what it wrote above.
          const claimed = await trx
            .updateTable('authorization_codes')
            .set({ used_at: now, ...(refresh ? { family_id: refresh.family.id } : {}) })
            .where('id', '=', codeId)
            .where('used_at', 'is', null)
            .executeTakeFirst()
          if (Number(claimed.numUpdatedRows) !== 1) throw new CodeAlreadyUsed()
          await recordAccessToken(trx, accessToken)
          return 'redeemed'
        })
        .catch((error: unknown) => {
          if (error instanceof CodeAlreadyUsed) return 'used' as const
          throw error
        })
    },
    async revokeIssuedFrom(codeId, now) {
      await db.transaction().execute(async (trx) => {
        const code = await trx.selectFrom('authorization_codes').select('family_id').where('id', '=', codeId).executeTakeFirst()
        const familyId = code?.family_id ?? null
        if (familyId) {
          await trx
            .updateTable('refresh_token_families')
            .set({ revoked_at: now })
            .where('id', '=', familyId)
            .where('revoked_at', 'is', null)
            .execute()
        }
        await revokeAccessTokensOf(trx, { codeId, familyId }, now)
      })
    },
  }
}
