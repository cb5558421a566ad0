import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/** A database nobody has set up yet: no user and no client (the server's first-run hint). */
export async function isUnconfigured(db: Kysely<Database>): Promise<boolean> {
  const user = await db.selectFrom('users').select('id').limit(1).executeTakeFirst()
  if (user) return false
  const client = await db.selectFrom('clients').select('id').limit(1).executeTakeFirst()
  return client === undefined
}
