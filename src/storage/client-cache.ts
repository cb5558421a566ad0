import type SqliteDatabase from 'better-sqlite3'
import type { Client } from './clients.js'

/** How many clients the cache holds; past it, it starts again empty (a bound, not an LRU). */
export const MAX_CACHED_CLIENTS = 1000

/** The SQL function the triggers below call; a name of latchkey's own. */
const WRITE_HOOK = 'latchkey_clients_written'

// Dropped and made again (not `if not exists`): a renamed table takes its triggers along.
const WRITE_TRIGGERS = ['insert', 'update', 'delete'].map(
  (operation) =>
    `drop trigger if exists temp.latchkey_clients_${operation}; ` +
    `create temp trigger latchkey_clients_${operation} after ${operation} on main.clients begin select ${WRITE_HOOK}(); end`,
)

/** One cache per connection: a second would replace the first one's SQL function. */
const caches = new WeakMap<SqliteDatabase.Database, ClientCache>()

/**
 * Clients by id, as the database holds them now: every token, introspection and revocation
 * request looks its client up, and on SQLite a cached client saves that query and its
 * conversion. Never stale, so a removed client or a rotated secret is refused at once:
 *
 * - a write to the clients table on this connection, whatever code path made it (a TEMP
 *   trigger calls back into this process), empties the cache, before its transaction commits
 *   or rolls back;
 * - a commit by any other connection (the CLI, another process on the same file) changes
 *   `PRAGMA data_version`, which every lookup reads first, and empties it too;
 * - a client read while a write happened meanwhile is not kept (the generation moved on);
 * - while a transaction is open on the connection, nothing is served or kept: a lookup waits
 *   for it, as it would without the cache, and never keeps what a rollback could undo.
 *
 * Self-registered clients (RFC 7591) are not cached: anyone may register them, so they must not
 * fill the memory, and each one's hourly `last_used_at` write would empty the cache anyway.
 * The triggers exist on this connection only, and are made again when the schema changes (a
 * migration that rebuilds the table drops them); until they exist, nothing is cached. PostgreSQL gets no cache: several instances
 * share it, and nothing tells one what another wrote.
 */
export interface ClientCache {
  /** The cached client, or undefined; also where the cache notices another connection's writes. */
  get(id: string): Client | undefined
  /** The generation a lookup starts from: `set` keeps its result only if nothing was written since. */
  generation(): number
  set(id: string, client: Client, generation: number): void
}

export function sqliteClientCache(sqlite: SqliteDatabase.Database, maxEntries = MAX_CACHED_CLIENTS): ClientCache {
  const existing = caches.get(sqlite)
  if (existing) return existing
  const cache = newCache(sqlite, maxEntries)
  caches.set(sqlite, cache)
  return cache
}

function newCache(sqlite: SqliteDatabase.Database, maxEntries: number): ClientCache {
  const entries = new Map<string, Client>()
  let generation = 0
  const invalidate = () => {
    entries.clear()
    generation++
  }
  sqlite.function(WRITE_HOOK, { deterministic: false }, () => {
    invalidate()
    return null
  })
  // One row: whether another connection committed (data_version), and whether the schema changed.
  const versions = sqlite.prepare('select data_version, schema_version from pragma_data_version(), pragma_schema_version()').raw()
  let seen: unknown[] | undefined
  const current = () => {
    const now = versions.get() as unknown[]
    if (seen === undefined || now[0] !== seen[0] || now[1] !== seen[1]) {
      invalidate()
      // After a migration (or before the first) the triggers may be missing: without the table, no cache.
      if (!installTriggers(sqlite)) return false
      seen = versions.get() as unknown[]
    }
    return true
  }
  return {
    get(id) {
      if (sqlite.inTransaction || !current()) return undefined
      return entries.get(id)
    },
    generation: () => (current() ? generation : -1),
    set(id, client, from) {
      if (from !== generation || from < 0 || sqlite.inTransaction || client.selfRegistered === true) return
      if (entries.size >= maxEntries) entries.clear()
      entries.set(id, client)
    },
  }
}

/**
 * Makes the triggers unless they exist; false when there is no clients table (yet), or when a
 * transaction is open on the connection (a rollback would take the triggers with it).
 */
function installTriggers(sqlite: SqliteDatabase.Database): boolean {
  if (sqlite.inTransaction) return false
  const table = sqlite.prepare("select 1 from main.sqlite_master where type = 'table' and name = 'clients'").get()
  if (table === undefined) return false
  for (const trigger of WRITE_TRIGGERS) sqlite.exec(trigger)
  return true
}
