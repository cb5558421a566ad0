import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import type { Test } from 'tap'
import { connect, type Store } from '../../src/storage/connect.js'
import { holdingMigrationLock, migrate } from '../../src/storage/migrate.js'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

export interface DialectCase {
  name: 'sqlite' | 'postgres'
  /** A fresh, migrated, empty database (closed at teardown). */
  open(t: Test): Promise<Store>
}

/**
 * A PostgreSQL schema of its own for this test. It is dropped before the next run (tap's `before`
 * script, test/helpers/drop-test-schemas.mjs), not at teardown: dropping it while another test
 * file's migrator scans every schema's tables made that file fail.
 */
export async function createSchema(_t: Test): Promise<string> {
  const url = TEST_DATABASE_URL as string
  const schema = `t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  await admin.end()
  return schema
}

export const sqliteCase: DialectCase = {
  name: 'sqlite',
  async open(t) {
    const store = connect({ kind: 'sqlite', path: ':memory:' })
    t.teardown(() => store.close())
    await migrate(store)
    return store
  },
}

/** A migrated schema of this test file, and the rows the migrations seeded, to restore. */
interface MigratedSchema {
  name: string
  tables: string[]
  seeds: Array<{ table: string; rows: unknown[] }>
}

/** This file's migrated schemas not in use by an open store; a test takes one, or makes one. */
const freeSchemas: MigratedSchema[] = []

async function migratedSchema(t: Test): Promise<MigratedSchema> {
  const name = await createSchema(t)
  const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema: name })
  try {
    await migrate(store)
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = ${name} and table_type = 'BASE TABLE' and table_name not like 'kysely_migration%'
      order by table_name`.execute(store.db)
    const tables = rows.map((row) => row.table_name)
    const seeds: MigratedSchema['seeds'] = []
    for (const table of tables) {
      const seeded = await sql<Record<string, unknown>>`select * from ${sql.id(name, table)}`.execute(store.db)
      if (seeded.rows.length > 0) seeds.push({ table, rows: seeded.rows })
    }
    return { name, tables, seeds }
  } finally {
    await store.close()
  }
}

/**
 * Back to just after the migrations: every table but kysely's emptied in one statement (the
 * sequences restarted), then the rows the migrations inserted put back.
 */
async function reset(store: Store, schema: MigratedSchema): Promise<void> {
  await store.db.transaction().execute(async (trx) => {
    const tables = sql.join(schema.tables.map((table) => sql.id(schema.name, table)))
    await sql`truncate table ${tables} restart identity cascade`.execute(trx)
    for (const { table, rows } of schema.seeds) {
      const target = sql.id(schema.name, table)
      await sql`insert into ${target} select * from json_populate_recordset(null::${target}, ${JSON.stringify(rows)})`.execute(trx)
    }
  })
}

/**
 * Creating a schema and running every migration takes 0.5–1 s, so a test file migrates a schema
 * once and each test gets it emptied instead (a few ms). A schema serves one open store at a
 * time: a test that opens a second store while the first is open (or subtests running in
 * parallel) gets another schema, so each store still sees a database of its own.
 */
export const postgresCase: DialectCase = {
  name: 'postgres',
  async open(t) {
    const schema = freeSchemas.pop() ?? (await migratedSchema(t))
    const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema: schema.name })
    let broken = false
    t.teardown(async () => {
      await store.close()
      // Not handed out again when it could not be reset: the next test would fail the same way.
      if (!broken) freeSchemas.push(schema)
    })
    try {
      await reset(store, schema)
    } catch (error) {
      broken = true
      throw error
    }
    return store
  },
}

/** SQLite always; PostgreSQL when TEST_DATABASE_URL is set (the skip is reported). */
export function dialects(t: Test): DialectCase[] {
  if (!TEST_DATABASE_URL) {
    t.comment('TEST_DATABASE_URL is not set: PostgreSQL cases are skipped')
    return [sqliteCase]
  }
  return [sqliteCase, postgresCase]
}

const dialectOfTest = new WeakMap<object, DialectCase>()

/**
 * Runs a file's tests once per dialect of dialects(t), each time inside a subtest named after
 * it. buildTestApp, startLatchkey and dialectOf, given a test inside it, use that dialect.
 */
export function eachDialect(t: Test, body: (t: Test, dialect: DialectCase) => void | Promise<void>): void {
  for (const dialect of dialects(t)) {
    t.test(dialect.name, async (t) => {
      dialectOfTest.set(t, dialect)
      await body(t, dialect)
    })
  }
}

/** The dialect of the eachDialect subtest `t` runs in; SQLite outside one. */
export function dialectOf(t: Test): DialectCase {
  for (let test: object | undefined = t; test; test = (test as { parent?: object }).parent) {
    const dialect = dialectOfTest.get(test)
    if (dialect) return dialect
  }
  return sqliteCase
}

/**
 * DATABASE_URL for a latchkey process (server or CLI) of the test's dialect: the SQLite file at
 * `sqlitePath`, or a new, empty schema of its own on PostgreSQL (the connection's search_path,
 * given in the URL as pg's `options`). The process migrates it as on first start.
 */
export async function processDatabaseUrl(t: Test, sqlitePath: string): Promise<string> {
  if (dialectOf(t).name === 'sqlite') return sqlitePath
  const url = new URL(TEST_DATABASE_URL as string)
  url.searchParams.set('options', `-c search_path=${await createSchema(t)}`)
  return url.href
}

/**
 * Whether TEST_DATABASE_URL is set, for a file that needs PostgreSQL itself. Without it a
 * developer's run reports the file skipped and why; CI (CI=true) fails instead.
 */
export function postgresRequired(t: Test, what: string): boolean {
  if (TEST_DATABASE_URL) return true
  const message = `TEST_DATABASE_URL is not set: ${what} needs PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/test)`
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`${message}; CI must run it`)
  } else {
    t.plan(0, message)
  }
  return false
}

/**
 * A fresh, empty PostgreSQL database of its own on TEST_DATABASE_URL's server (for a latchkey
 * process, which uses the public schema), dropped at teardown, connections and all.
 */
export async function createDatabase(t: Test): Promise<{ name: string; url: URL }> {
  const admin = new URL(TEST_DATABASE_URL as string)
  const name = `t_db_${randomBytes(6).toString('hex')}`
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: admin.href })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await run(`create database ${name}`)
  t.teardown(() => run(`drop database if exists ${name} with (force)`))
  const url = new URL(admin.href)
  url.pathname = `/${name}`
  return { name, url }
}

/**
 * The names of the store's own tables, sorted. On PostgreSQL from information_schema, for the
 * connection's schema only: kysely's introspection reads every schema's columns, and fails when
 * another test file changes its own schema meanwhile.
 */
export async function ownTableNames(store: Store): Promise<string[]> {
  if (store.dialect !== 'postgres') return (await store.db.introspection.getTables()).map((table) => table.name).sort()
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(store.db)
  return rows.map((row) => row.name).sort()
}

/**
 * Runs a migration's `up` or `down` by hand as migrate() runs them: on PostgreSQL holding the
 * migration lock (holdingMigrationLock), on the one connection `body` gets. kysely's migrator
 * (in every other test file's migrate()) reads every table of every schema, and a column dropped
 * meanwhile in this file's schema made that read fail ("column … does not exist").
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function underMigrationLock<T>(store: Store, body: (db: Kysely<any>) => Promise<T>): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const db = store.db as unknown as Kysely<any>
  return store.dialect === 'postgres' ? holdingMigrationLock(db, body) : body(db)
}
