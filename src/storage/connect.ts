import { closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteAdapter, SqliteDialect, sql, type PostgresPool, type PostgresPoolClient, type SqliteDatabase as SqliteDatabaseLike } from 'kysely'
import { createRequire } from 'node:module'
import type pgModule from 'pg'
import type { DatabasePool, DatabaseTarget } from '../config.js'
import { sqliteClientCache, type ClientCache } from './client-cache.js'
import type { Database } from './database.js'

export type Dialect = 'sqlite' | 'postgres'

export interface Store {
  db: Kysely<Database>
  dialect: Dialect
  /** SQLite only: clients as the database holds them (client-cache.ts); none on PostgreSQL. */
  clientCache?: ClientCache
  /** Runs a cheap query; throws when the database is unreachable. */
  ping(): Promise<void>
  close(): Promise<void>
}

export interface ConnectOptions {
  /** PostgreSQL only: the schema to use (tests give each file its own). */
  schema?: string
  /**
   * PostgreSQL only: DB_POOL_SIZE and DB_STATEMENT_TIMEOUT_MS, for the serving process. Without
   * it (migrations, the CLI) a statement may run as long as it needs, in a pool of 10.
   */
  pool?: DatabasePool
}

/** A new connection that has not opened within this time fails (without `pool`'s timeout). */
const CONNECT_TIMEOUT_MS = 10_000

/**
 * How much longer than statement_timeout the client waits for an answer: the server cancels
 * the statement itself first; this catches the case where no answer can arrive at all (the
 * network drops everything, the server is frozen).
 */
export const QUERY_TIMEOUT_MARGIN_MS = 1000

/** TCP keep-alive on every connection, so a peer that vanished is noticed even while idle. */
const KEEP_ALIVE_DELAY_MS = 10_000

const INT8_OID = 20

/**
 * node-postgres, loaded when a PostgreSQL URL is configured: a server on SQLite never loads
 * it (it costs start time and memory, and reaches for globals Node builds on first use).
 */
function loadPg(): typeof pgModule {
  return createRequire(import.meta.url)('pg') as typeof pgModule
}

// 64-bit integers (our epoch-millisecond times) come back as strings from pg by default;
// every value we store fits in a double, so read them as numbers.
function pgTypes(pg: typeof pgModule) {
  return {
    getTypeParser: ((oid: number, format?: string) =>
      oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  }
}

export function connect(target: DatabaseTarget, options: ConnectOptions = {}): Store {
  if (target.kind === 'postgres') {
    const pg = loadPg()
    const limits = options.pool
    const pool = new pg.Pool({
      connectionString: target.url,
      types: pgTypes(pg),
      max: limits?.size ?? 10,
      // Opening a connection, and waiting for a free one, fail in bounded time (503), rather
      // than waiting on a database that does not answer.
      connectionTimeoutMillis: limits?.statementTimeoutMs ?? CONNECT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEP_ALIVE_DELAY_MS,
      ...(limits
        ? {
            // The server cancels a statement running longer (SQLSTATE 57014)…
            statement_timeout: limits.statementTimeoutMs,
            // …and ends a transaction whose client went silent, releasing its row locks for
            // the other instances.
            idle_in_transaction_session_timeout: limits.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
            // …and the client gives up when no answer comes at all.
            query_timeout: limits.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
          }
        : {}),
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    })
    // An idle client losing its connection must not crash the process; queries will fail instead.
    pool.on('error', () => {})
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardedPool(pg, pool) }) })
    return storeFor(db, 'postgres')
  }
  if (target.path !== ':memory:') createPrivately(target.path)
  const sqlite = new SqliteDatabase(target.path)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('synchronous = NORMAL')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) })
  return { ...storeFor(db, 'sqlite'), clientCache: sqliteClientCache(sqlite) }
}

/** How many prepared statements a SQLite connection keeps; latchkey's queries number far fewer. */
export const STATEMENT_CACHE_SIZE = 256

/**
 * kysely asks better-sqlite3 to prepare every query it runs, which costs more than running it.
 * The same SQL text gets the statement prepared the first time (parameters are bound per run).
 * A statement still being iterated (a streamed query) is busy: that query gets a fresh one.
 * Past the limit the oldest statement is dropped, so the cache stays bounded.
 *
 * Every transaction kysely opens (its `begin`) is a `begin immediate`: it takes SQLite's write
 * lock at once, waiting up to busy_timeout for another process (the CLI) to finish its own. A
 * plain `begin` reads first and asks for the lock at its first write, and when another process
 * committed in between, SQLite refuses that write at once (SQLITE_BUSY_SNAPSHOT) instead of
 * waiting. Holding the lock from the start also makes what a transaction read still true when it
 * commits, which lets the row checks of users.ts and refresh-tokens.ts read instead of write.
 */
export function withStatementCache(sqlite: SqliteDatabase.Database, size = STATEMENT_CACHE_SIZE): SqliteDatabaseLike {
  const statements = new Map<string, SqliteDatabase.Statement>()
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      const text = sqlText === 'begin' ? 'begin immediate' : sqlText
      const cached = statements.get(text)
      if (cached && !cached.busy) return cached
      const statement = sqlite.prepare(text)
      if (!cached) {
        if (statements.size >= size) statements.delete(statements.keys().next().value as string)
        statements.set(text, statement)
      }
      return statement
    },
  }
}

/**
 * Whether a transaction on this database holds the write lock from its start, so what it reads
 * stays true until it commits: SQLite (see withStatementCache). On PostgreSQL a row must be
 * locked (FOR UPDATE, or an UPDATE) to stay so.
 */
export function holdsWriteLock(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter
}

/**
 * The pool as kysely uses it, with two guards node-postgres leaves to its users:
 * - While kysely holds a client, the pool listens to none of its events: the connection dying
 *   then (the database restarts, the network drops) would be an unhandled 'error' event, which
 *   ends the process. Here it is recorded instead.
 * - A client whose connection failed, or whose query got no answer (query_timeout), is closed
 *   on release rather than reused: its query may still be in flight, and every query handed to
 *   it after would wait behind it. A query the server answered with an error (a constraint,
 *   statement_timeout) leaves the client usable.
 */
function guardedPool(pg: typeof pgModule, pool: pgModule.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect()
      let broken: Error | undefined
      const onError = (error: Error) => {
        broken ??= error
      }
      client.on('error', onError)
      const query = async (text: string, parameters: readonly unknown[]) => {
        // A transaction's later statements (its rollback) fail at once, not after a timeout each.
        if (broken) throw broken
        try {
          return await client.query(text, [...parameters])
        } catch (error) {
          if (!(error instanceof pg.DatabaseError)) broken ??= error as Error
          throw error
        }
      }
      return {
        query: query as unknown as PostgresPoolClient['query'],
        release() {
          client.off('error', onError)
          client.release(broken)
        },
      }
    },
    end: () => pool.end(),
  }
}

/**
 * The database holds password and secret hashes: its directory is created 0700 and the file
 * 0600, as KEYS_DIR and the key files are. SQLite gives the -wal and -shm files it creates the
 * database file's mode, so creating that file first, before SQLite opens it, keeps all three
 * private. An existing file or directory is left as it is (see databaseFileWarnings).
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  closeSync(openSync(path, 'a', 0o600))
}

/**
 * What of an existing SQLite database (its directory, file, -wal and -shm) others than its owner
 * may read or write: one message each, for the server to log at start. Nothing for PostgreSQL,
 * an in-memory database, or files not created yet (connect creates them private).
 */
export function databaseFileWarnings(target: DatabaseTarget): string[] {
  if (target.kind !== 'sqlite' || target.path === ':memory:') return []
  const paths: Array<[string, string, number]> = [
    ['directory', dirname(target.path), 0o700],
    ['file', target.path, 0o600],
    ['WAL file', `${target.path}-wal`, 0o600],
    ['shared-memory file', `${target.path}-shm`, 0o600],
  ]
  const warnings: string[] = []
  for (const [what, path, expected] of paths) {
    let mode: number
    try {
      mode = statSync(path).mode & 0o777
    } catch {
      continue
    }
    if ((mode & 0o077) !== 0) {
      warnings.push(`the database ${what} ${path} has mode ${octal(mode)}: group or others have access; expected ${octal(expected)} (chmod ${octal(expected)} ${path})`)
    }
  }
  return warnings
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`
}

function storeFor(db: Kysely<Database>, dialect: Dialect): Store {
  return {
    db,
    dialect,
    async ping() {
      await sql`select 1`.execute(db)
    },
    async close() {
      await db.destroy()
    },
  }
}
