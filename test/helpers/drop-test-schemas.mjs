// tap's `before` script: drops the per-file PostgreSQL schemas (t_…) a previous run left, and the
// databases (lk_test_SECONDS_…, test/helpers/pg-database.ts) that a run which crashed before its
// teardown left over an hour ago (a younger one may belong to a run in another checkout).
// Test files no longer drop their schema at teardown: kysely's introspection (used by its
// migrator) reads every schema's tables, and a schema dropped by one file while another file
// migrates made that migration fail with "schema t_… does not exist".
// An unreachable PostgreSQL is not this script's failure: the tests that need it say so.
import pg from 'pg'

const url = process.env.TEST_DATABASE_URL
if (url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  let connected = false
  try {
    await client.connect()
    connected = true
  } catch (error) {
    process.stderr.write(`drop-test-schemas: PostgreSQL unreachable (${error.message}); nothing dropped\n`)
  }
  if (connected) {
    const { rows } = await client.query("select nspname from pg_namespace where nspname ~ '^t_[0-9a-f]{12}$'")
    for (const { nspname } of rows) await client.query(`drop schema if exists "${nspname}" cascade`)
    const databases = await client.query("select datname from pg_database where datname ~ '^lk_test_[0-9]+_[0-9a-f]{12}$'")
    const anHourAgo = Date.now() / 1000 - 3600
    for (const { datname } of databases.rows) {
      if (Number(datname.split('_')[2]) < anHourAgo) await client.query(`drop database if exists "${datname}" with (force)`)
    }
    await client.end()
  }
}
