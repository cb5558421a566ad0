import type { Kysely } from 'kysely'
import type { Database } from './database.js'

export interface Scope {
  name: string
  description: string
}

export interface ScopeRepository {
  /** Adds the scope, or updates the description of an existing one. */
  upsert(scope: Scope): Promise<void>
  list(): Promise<Scope[]>
  findByNames(names: readonly string[]): Promise<Scope[]>
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
  }
}
