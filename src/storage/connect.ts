import { closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase as SqliteDatabaseLike } from 'kysely'
import pg from 'pg'
import type { DatabaseTarget } from '../config.js'
import type { Database } from './database.js'

export type Dialect = 'sqlite' | 'postgres'

export interface Store {
  db: Kysely<Database>
  dialect: Dialect
  /** Runs a cheap query; throws when the database is unreachable. */
  ping(): Promise<void>
  close(): Promise<void>
}

export interface ConnectOptions {
  /** PostgreSQL only: the schema to use (tests give each file its own). */
  schema?: string
}

const INT8_OID = 20

// 64-bit integers (our epoch-millisecond times) come back as strings from pg by default;
// every value we store fits in a double, so read them as numbers.
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

export function connect(target: DatabaseTarget, options: ConnectOptions = {}): Store {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      types: pgTypes,
      max: 10,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    })
    // An idle client losing its connection must not crash the process; queries will fail instead.
    pool.on('error', () => {})
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    return storeFor(db, 'postgres')
  }
  if (target.path !== ':memory:') createPrivately(target.path)
  const sqlite = new SqliteDatabase(target.path)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('synchronous = NORMAL')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) })
  return storeFor(db, 'sqlite')
}

/** How many prepared statements a SQLite connection keeps; latchkey's queries number far fewer. */
export const STATEMENT_CACHE_SIZE = 256

/**
 * kysely asks better-sqlite3 to prepare every query it runs, which costs more than running it.
 * The same SQL text gets the statement prepared the first time (parameters are bound per run).
 * A statement still being iterated (a streamed query) is busy: that query gets a fresh one.
 * Past the limit the oldest statement is dropped, so the cache stays bounded.
 */
export function withStatementCache(sqlite: SqliteDatabase.Database, size = STATEMENT_CACHE_SIZE): SqliteDatabaseLike {
  const statements = new Map<string, SqliteDatabase.Statement>()
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
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
