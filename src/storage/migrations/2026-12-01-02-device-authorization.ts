import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// The device authorization grant (RFC 8628): one row per /device_authorization request, the
// device code and the user code stored only as SHA-256 hashes. Once the user approves, the row
// names the authorization code that approval wrote (never handed out: the device code is what
// the client presents), so redemption, replay and revocation are those of the code flow. An
// authorization transaction opened from the verification page names its device authorization.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('device_authorizations')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('device_code_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('user_code_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(36)', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('auth_time', 'bigint')
    .addColumn('code_id', 'varchar(64)', (c) => c.references('authorization_codes.id').onDelete('set null'))
    .addColumn('interval_seconds', 'integer', (c) => c.notNull())
    .addColumn('last_polled_at', 'bigint')
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('redeemed_at', 'bigint')
    .execute()
  // The per-address cap counts from this index; the purge sweeps by expires_at.
  await db.schema.createIndex('device_authorizations_address_idx').on('device_authorizations').columns(['address', 'expires_at']).execute()
  await db.schema.createIndex('device_authorizations_expires_idx').on('device_authorizations').column('expires_at').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('device_authorization_id', 'varchar(64)').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_transactions').dropColumn('device_authorization_id').execute()
  await db.schema.dropTable('device_authorizations').execute()
}
