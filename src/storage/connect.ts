import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely'
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
  if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true })
  const sqlite = new SqliteDatabase(target.path)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('synchronous = NORMAL')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  return storeFor(db, 'sqlite')
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
