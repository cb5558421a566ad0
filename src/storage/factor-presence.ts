import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Whether the user has a second factor: a confirmed authenticator-app secret or a passkey. One
 * query; MFA_REQUIRED=enrolled, the password grant and the sign-in pages ask it.
 */
export async function userHasFactor(db: Kysely<Database>, userId: string): Promise<boolean> {
  const totp = db.selectFrom('totp_factors').select('user_id').where('user_id', '=', userId).where('confirmed_at', 'is not', null)
  const passkey = db.selectFrom('passkeys').select('user_id').where('user_id', '=', userId)
  const row = await totp.union(passkey).limit(1).executeTakeFirst()
  return row !== undefined
}

/** userHasFactor as a repository, for the code that holds repositories rather than the database. */
export interface FactorPresenceRepository {
  hasFactor(userId: string): Promise<boolean>
}

export function factorPresenceRepository(db: Kysely<Database>): FactorPresenceRepository {
  return { hasFactor: (userId) => userHasFactor(db, userId) }
}
