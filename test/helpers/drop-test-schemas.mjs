// tap's `before` script: drops the per-file PostgreSQL schemas (t_…) a previous run left.
// Test files no longer drop their schema at teardown: kysely's introspection (used by its
// migrator) reads every schema's tables, and a schema dropped by one file while another file
// migrates made that migration fail with "schema t_… does not exist".
import pg from 'pg'

const url = process.env.TEST_DATABASE_URL
if (url) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const { rows } = await client.query("select nspname from pg_namespace where nspname ~ '^t_[0-9a-f]{12}$'")
  for (const { nspname } of rows) await client.query(`drop schema if exists "${nspname}" cascade`)
  await client.end()
}
