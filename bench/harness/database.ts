import { join } from 'node:path'
import pg from 'pg'

export interface BenchDatabase {
  kind: 'sqlite' | 'postgres'
  /** latchkey's DATABASE_URL. */
  url: string
  drop(): Promise<void>
}

/**
 * A fresh database for one run: a SQLite file in the run's temporary directory, or a database
 * of its own (latchkey_bench_<pid>) on the PostgreSQL server, dropped afterwards.
 */
export async function createDatabase(serverUrl: string | undefined, tmpDir: string): Promise<BenchDatabase> {
  if (serverUrl === undefined) return { kind: 'sqlite', url: join(tmpDir, 'latchkey.sqlite'), drop: async () => {} }
  const name = `latchkey_bench_${process.pid}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { kind: 'postgres', url: url.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}
