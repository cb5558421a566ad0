import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { connect, type Store } from '../../src/storage/connect.js'
import { migrate } from '../../src/storage/migrate.js'

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

export const postgresCase: DialectCase = {
  name: 'postgres',
  async open(t) {
    const schema = await createSchema(t)
    const store = connect({ kind: 'postgres', url: TEST_DATABASE_URL as string }, { schema })
    t.teardown(() => store.close())
    await migrate(store)
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
