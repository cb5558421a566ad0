import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// Dynamic client registration (RFC 7591 / 7592): a client can be self-registered, with the
// SHA-256 hash of its registration access token, the token_endpoint_auth_method it registered
// (echoed back on read) and when a token was last issued to it (the purge removes those unused
// for REGISTRATION_UNUSED_DAYS, hence the index). Initial access tokens (REGISTRATION=token) are
// stored as hashes, single use, until they expire.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('self_registered', 'integer', (col) => col.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('clients').addColumn('registration_token_hash', 'varchar(64)').execute()
  await db.schema.alterTable('clients').addColumn('token_endpoint_auth_method', 'varchar(32)').execute()
  await db.schema.alterTable('clients').addColumn('last_used_at', 'bigint').execute()
  await db.schema.createIndex('clients_self_registered_idx').on('clients').columns(['self_registered', 'last_used_at']).execute()
  await db.schema
    .createTable('initial_access_tokens')
    .addColumn('token_hash', 'varchar(64)', (col) => col.primaryKey())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema.createIndex('initial_access_tokens_expires_idx').on('initial_access_tokens').column('expires_at').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('initial_access_tokens').execute()
  await db.schema.dropIndex('clients_self_registered_idx').execute()
  await db.schema.alterTable('clients').dropColumn('last_used_at').execute()
  await db.schema.alterTable('clients').dropColumn('token_endpoint_auth_method').execute()
  await db.schema.alterTable('clients').dropColumn('registration_token_hash').execute()
  await db.schema.alterTable('clients').dropColumn('self_registered').execute()
}
