import { sql, type Kysely } from 'kysely'
import type { Database } from './database.js'
import { fromDbList } from './convert.js'
import { containsIgnoringCase, type PageQuery } from './paging.js'

export interface Scope {
  name: string
  description: string
}

export interface ScopeRepository {
  /** Adds the scope, or updates the description of an existing one. */
  upsert(scope: Scope): Promise<void>
  list(): Promise<Scope[]>
  findByNames(names: readonly string[]): Promise<Scope[]>
  /** Scopes ordered by name (the primary key), after `after`, matching `search` in name or description. */
  page(query: PageQuery): Promise<Scope[]>
  /**
   * Deletes the scope unless a client is registered with it, checked in the same transaction:
   * the ids of (up to `limit` of) those clients then, `missing` when there was no such scope.
   */
  remove(name: string, limit: number): Promise<'removed' | 'missing' | { usedBy: string[] }>
}

export function scopeRepository(db: Kysely<Database>): ScopeRepository {
  return {
    async upsert(scope) {
      await db
        .insertInto('scopes')
        .values(scope)
        .onConflict((oc) => oc.column('name').doUpdateSet({ description: scope.description }))
        .execute()
    },
    async list() {
      return db.selectFrom('scopes').select(['name', 'description']).orderBy('name').execute()
    },
    async findByNames(names) {
      if (names.length === 0) return []
      return db.selectFrom('scopes').select(['name', 'description']).where('name', 'in', names).execute()
    },
    async page({ after, limit, search }) {
      let query = db.selectFrom('scopes').select(['name', 'description']).orderBy('name').limit(limit)
      if (after !== undefined) query = query.where('name', '>', after)
      if (search !== undefined) {
        query = query.where((eb) => eb.or([containsIgnoringCase(eb.ref('name'), search), containsIgnoringCase(eb.ref('description'), search)]))
      }
      return query.execute()
    },
    async remove(name, limit) {
      return db.transaction().execute(async (trx) => {
        // Client lists are JSON text: the quoted name narrows the rows, parsing decides.
        const candidates = await trx.selectFrom('clients').select(['id', 'scopes']).where(containsIgnoringCase(sql.ref('scopes'), JSON.stringify(name))).orderBy('id').execute()
        const usedBy = candidates.filter((row) => fromDbList(row.scopes).includes(name)).map((row) => row.id)
        if (usedBy.length > 0) return { usedBy: usedBy.slice(0, limit) }
        const removed = await trx.deleteFrom('scopes').where('name', '=', name).executeTakeFirst()
        return Number(removed.numDeletedRows) === 1 ? 'removed' : 'missing'
      })
    },
  }
}
