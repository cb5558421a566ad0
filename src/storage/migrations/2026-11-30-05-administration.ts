import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// Administration: a user can be disabled (disabled_at); a client's previous secret keeps working
// until previous_secret_expires_at after a rotation with a grace period. The indexes serve the
// administrative lists and the per-user and per-client revocations (PostgreSQL does not index
// foreign keys by itself, and deleting a user or a client cascades through these columns).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('disabled_at', 'bigint').execute()
  await db.schema.alterTable('clients').addColumn('previous_secret_hash', 'varchar(64)').execute()
  await db.schema.alterTable('clients').addColumn('previous_secret_expires_at', 'bigint').execute()
  for (const [table, column] of INDEXES) {
    await db.schema.createIndex(`${table}_${column}_idx`).ifNotExists().on(table).column(column).execute()
  }
}

const INDEXES: Array<[string, string]> = [
  ['refresh_token_families', 'user_id'],
  ['refresh_token_families', 'client_id'],
  ['consents', 'user_id'],
  ['login_sessions', 'user_id'],
  ['authorization_codes', 'user_id'],
  ['authorization_codes', 'client_id'],
  ['authorization_transactions', 'user_id'],
  ['authorization_transactions', 'client_id'],
  ['access_tokens', 'client_id'],
]

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const [table, column] of INDEXES) await db.schema.dropIndex(`${table}_${column}_idx`).ifExists().execute()
  await db.schema.alterTable('clients').dropColumn('previous_secret_expires_at').execute()
  await db.schema.alterTable('clients').dropColumn('previous_secret_hash').execute()
  await db.schema.alterTable('users').dropColumn('disabled_at').execute()
}
