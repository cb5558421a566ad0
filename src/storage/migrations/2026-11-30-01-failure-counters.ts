import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// Failures counted per key (a hash naming a client address, or a client_id and an address) over
// a fixed window, shared by every instance: the limits on failed sign-ins and failed client
// authentications. Rows whose expires_at has passed are dead and may be purged.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('failure_counters')
    .addColumn('key_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('failure_counters').execute()
}
