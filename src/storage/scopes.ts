import type { Kysely } from 'kysely'
import type { Database } from './database.js'
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
  /** False when there was no such scope. */
  remove(name: string): Promise<boolean>
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
    async remove(name) {
      const removed = await db.deleteFrom('scopes').where('name', '=', name).executeTakeFirst()
      return Number(removed.numDeletedRows) === 1
    },
  }
}
