import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbList, fromDbTime, toDbList } from './convert.js'

/** The scopes and resources (RFC 8707 audiences) a user has allowed a client. */
export interface Consent {
  clientId: string
  userId: string
  scopes: string[]
  resources: string[]
  createdAt: number
  updatedAt: number
}

export interface ConsentRepository {
  find(clientId: string, userId: string): Promise<Consent | undefined>
  /** Adds these scopes and resources to what the user has allowed the client. */
  grant(clientId: string, userId: string, granted: ConsentGrant, now: number): Promise<void>
}

export interface ConsentGrant {
  scopes: readonly string[]
  resources: readonly string[]
}

const union = (before: readonly string[] | undefined, added: readonly string[]): string => toDbList([...new Set([...(before ?? []), ...added])])

export function consentRepository(db: Kysely<Database>): ConsentRepository {
  const find: ConsentRepository['find'] = async (clientId, userId) => {
    const row = await db
      .selectFrom('consents')
      .selectAll()
      .where('client_id', '=', clientId)
      .where('user_id', '=', userId)
      .executeTakeFirst()
    if (!row) return undefined
    return {
      clientId: row.client_id,
      userId: row.user_id,
      scopes: fromDbList(row.scopes),
      resources: fromDbList(row.resources),
      createdAt: fromDbTime(row.created_at),
      updatedAt: fromDbTime(row.updated_at),
    }
  }
  return {
    find,
    async grant(clientId, userId, granted, now) {
      const existing = await find(clientId, userId)
      const scopes = union(existing?.scopes, granted.scopes)
      const resources = union(existing?.resources, granted.resources)
      await db
        .insertInto('consents')
        .values({ client_id: clientId, user_id: userId, scopes, resources, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['client_id', 'user_id']).doUpdateSet({ scopes, resources, updated_at: now }))
        .execute()
    },
  }
}
