import { type Kysely, type MigrationProvider, type Migration, Migrator, sql } from 'kysely'
import type { Store } from './connect.js'
import type { Database } from './database.js'
import { migrations as allMigrations } from './migrations/index.js'

export class MigrationError extends Error {
  override name = 'MigrationError'
}

function providerFor(migrations: Record<string, Migration>): MigrationProvider {
  return { getMigrations: async () => migrations }
}

/**
 * The advisory lock every latchkey migration of a PostgreSQL database holds, whatever its schema.
 * kysely takes its own lock only after it has looked for its tables, and that look reads the
 * catalog of every schema: a migration creating tables in another transaction at that moment
 * made it fail with "relation … does not exist". This lock is taken before any of that.
 */
export const MIGRATION_LOCK_KEY = 7_262_091_415_830_154n

const LOCK_WAIT_MS = 60 * 60 * 1000

/**
 * Applies every pending migration once, under a lock, all or nothing.
 * PostgreSQL: one connection holds MIGRATION_LOCK_KEY for the whole run; kysely runs the batch
 * in one transaction on it.
 * SQLite: kysely takes no lock, so the batch runs in one BEGIN IMMEDIATE transaction: a second
 * process waits on the write lock (busy_timeout), then finds nothing pending.
 */
export async function migrate(
  store: Store,
  migrations: Record<string, Migration> = allMigrations,
): Promise<string[]> {
  const provider = providerFor(migrations)
  if (store.dialect === 'postgres') {
    return holdingMigrationLock(store.db, async (conn) => {
      // kysely looks for its migration tables in every schema unless told which one; another
      // schema's tables (another app, or another test file) would make it skip creating ours.
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(conn)
      const migrationTableSchema = rows[0]?.schema
      return applied(await new Migrator({ db: conn, provider, ...(migrationTableSchema ? { migrationTableSchema } : {}) }).migrateToLatest())
    })
  }
  return store.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn)
    try {
      const result = await new Migrator({ db: conn as Kysely<Database>, provider }).migrateToLatest()
      const names = applied(result)
      await sql`commit`.execute(conn)
      return names
    } catch (error) {
      await sql`rollback`.execute(conn)
      throw error
    }
  })
}

/**
 * PostgreSQL: runs `body` on one connection holding MIGRATION_LOCK_KEY, as every change to the
 * schema must (migrate(), and a test running a migration's up or down by hand). Waits as long as
 * kysely's own lock does (an hour), then fails rather than hang; lets go whatever `body` does.
 */
export async function holdingMigrationLock<DB, T>(db: Kysely<DB>, body: (conn: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql`
      with wait as (select set_config('lock_timeout', ${String(LOCK_WAIT_MS)}, false) as lock_timeout)
      select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)}) from wait`.execute(conn)
    let result: T
    try {
      result = await body(conn)
    } catch (error) {
      // The body's own error, not a failed unlock's: a lost connection ended the lock anyway.
      await unlock(conn).catch(() => undefined)
      throw error
    }
    await unlock(conn)
    return result
  })
}

async function unlock<DB>(conn: Kysely<DB>): Promise<void> {
  await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(conn)
  await sql`reset lock_timeout`.execute(conn)
}

function applied(result: Awaited<ReturnType<Migrator['migrateToLatest']>>): string[] {
  // kysely's words for a database a newer latchkey migrated: say it in ours.
  const newer = /previously executed migration (\S+) is missing/.exec(describe(result.error))
  if (newer) throw new MigrationError(`the database was migrated by a newer latchkey (migration ${newer[1]} is unknown to this one): run that version or a later one`, { cause: result.error })
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new MigrationError(`migration ${failed} failed: ${describe(result.error)}`, { cause: result.error })
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
