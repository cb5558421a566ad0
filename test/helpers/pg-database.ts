import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { TEST_DATABASE_URL } from './db.js'
import { partMissing } from './required-part.js'

/**
 * Databases this helper creates are named lk_test_SECONDS_HEX (SECONDS: when it was created), so
 * drop-test-schemas.mjs can drop what a crashed run left without touching a running one's.
 */
function newDatabaseName(): string {
  return `lk_test_${Math.floor(Date.now() / 1000)}_${randomBytes(6).toString('hex')}`
}

/** Where TEST_DATABASE_URL points, without credentials: what a message may print. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`
  } catch {
    return 'TEST_DATABASE_URL'
  }
}

/**
 * Whether TEST_DATABASE_URL is set and answers. Without it a developer's run skips the file,
 * saying why; under CI the file fails.
 */
export async function postgresAvailable(t: Test): Promise<boolean> {
  if (!TEST_DATABASE_URL) {
    return partMissing(t, 'TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test): these tests need PostgreSQL')
  }
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch (error) {
    return partMissing(t, `PostgreSQL at ${describeUrl(TEST_DATABASE_URL)} is unreachable (${error instanceof Error ? error.message : String(error)})`)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Runs one statement on TEST_DATABASE_URL's database (CREATE/DROP DATABASE cannot run elsewhere). */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

/**
 * A new, empty PostgreSQL database of its own (not a schema: several servers share it as a
 * deployment would, and nothing else's tables are in it), dropped at teardown even while
 * connections to it are still open. Answers its URL.
 */
export async function createTestDatabase(t: Test): Promise<string> {
  const base = TEST_DATABASE_URL as string
  const name = newDatabaseName()
  await adminQuery(base, `create database ${name}`)
  t.teardown(async () => {
    await adminQuery(base, `drop database if exists ${name} with (force)`)
  })
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}
