import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbList, fromDbTime, toDbList } from './convert.js'

/** The scopes a user has allowed a client for one resource (RFC 8707 audience). */
export interface Consent {
  clientId: string
  userId: string
  resource: string
  scopes: string[]
  createdAt: number
  updatedAt: number
}

export interface ConsentRepository {
  find(clientId: string, userId: string, resource: string): Promise<Consent | undefined>
  /** Adds `scopes` to what the user has allowed the client for `resource`. */
  grant(clientId: string, userId: string, resource: string, scopes: readonly string[], now: number): Promise<void>
}

export function consentRepository(db: Kysely<Database>): ConsentRepository {
  const find: ConsentRepository['find'] = async (clientId, userId, resource) => {
    const row = await db
      .selectFrom('consents')
      .selectAll()
      .where('client_id', '=', clientId)
      .where('user_id', '=', userId)
      .where('resource', '=', resource)
      .executeTakeFirst()
    if (!row) return undefined
    return {
      clientId: row.client_id,
      userId: row.user_id,
      resource: row.resource,
      scopes: fromDbList(row.scopes),
      createdAt: fromDbTime(row.created_at),
      updatedAt: fromDbTime(row.updated_at),
    }
  }
  return {
    find,
    async grant(clientId, userId, resource, scopes, now) {
      const existing = await find(clientId, userId, resource)
      const merged = toDbList([...new Set([...(existing?.scopes ?? []), ...scopes])])
      await db
        .insertInto('consents')
        .values({ client_id: clientId, user_id: userId, resource, scopes: merged, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['client_id', 'user_id', 'resource']).doUpdateSet({ scopes: merged, updated_at: now }))
        .execute()
    },
  }
}
