import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbList, fromDbTime } from './convert.js'
import { containsIgnoringCase, type PageQuery } from './paging.js'
import { revokeGrantsOf, type GrantScope } from './revocation.js'

/** What a user has granted one client: remembered consents and live refresh-token families. */
export interface ClientGrant {
  clientId: string
  clientName: string
  consents: Array<{ resource: string; scopes: string[]; createdAt: number; updatedAt: number }>
  families: Array<{ id: string; scopes: string[]; audience: string; createdAt: number }>
}

export interface GrantRepository {
  /** The user's grants, one item per client, ordered by client_id after `after`, matching `search` in client_id or client name. */
  listForUser(userId: string, query: PageQuery): Promise<ClientGrant[]>
  /**
   * Forgets the consents and revokes the families (with their access tokens) and unused codes
   * of the user, for one client or all, in one transaction. The number of families revoked.
   */
  revoke(scope: GrantScope, now: number): Promise<{ consents: number; families: number }>
  /**
   * Revokes the families (with their access tokens) and unused codes of the user, keeping the
   * consents (`user mfa reset`: tokens from a sign-in with the removed factors end). The number
   * of families revoked.
   */
  revokeTokens(userId: string, now: number): Promise<number>
}

export function grantRepository(db: Kysely<Database>): GrantRepository {
  return {
    async listForUser(userId, { after, limit, search }) {
      const consenting = db.selectFrom('consents').select('client_id').where('user_id', '=', userId)
      const holding = db.selectFrom('refresh_token_families').select('client_id').where('user_id', '=', userId).where('revoked_at', 'is', null)
      let clients = db.selectFrom('clients').select(['id', 'name']).where((eb) => eb.or([eb('id', 'in', consenting), eb('id', 'in', holding)])).orderBy('id').limit(limit)
      if (after !== undefined) clients = clients.where('id', '>', after)
      if (search !== undefined) clients = clients.where((eb) => eb.or([containsIgnoringCase(eb.ref('id'), search), containsIgnoringCase(eb.ref('name'), search)]))
      const rows = await clients.execute()
      if (rows.length === 0) return []
      const ids = rows.map((row) => row.id)
      const consents = await db.selectFrom('consents').selectAll().where('user_id', '=', userId).where('client_id', 'in', ids).orderBy('resource').execute()
      const families = await db
        .selectFrom('refresh_token_families')
        .selectAll()
        .where('user_id', '=', userId)
        .where('client_id', 'in', ids)
        .where('revoked_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map((row) => ({
        clientId: row.id,
        clientName: row.name,
        consents: consents
          .filter((c) => c.client_id === row.id)
          .map((c) => ({ resource: c.resource, scopes: fromDbList(c.scopes), createdAt: fromDbTime(c.created_at), updatedAt: fromDbTime(c.updated_at) })),
        families: families
          .filter((f) => f.client_id === row.id)
          .map((f) => ({ id: f.id, scopes: fromDbList(f.scopes), audience: f.audience, createdAt: fromDbTime(f.created_at) })),
      }))
    },
    async revokeTokens(userId, now) {
      return db.transaction().execute((trx) => revokeGrantsOf(trx, { userId }, now))
    },
    async revoke(scope, now) {
      return db.transaction().execute(async (trx) => {
        const families = await revokeGrantsOf(trx, scope, now)
        let forget = trx.deleteFrom('consents').where('user_id', '=', scope.userId)
        if (scope.clientId !== undefined) forget = forget.where('client_id', '=', scope.clientId)
        const consents = Number((await forget.executeTakeFirst()).numDeletedRows)
        return { consents, families }
      })
    },
  }
}
