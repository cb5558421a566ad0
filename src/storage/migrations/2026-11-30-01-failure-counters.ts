import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// Failed client authentications and sign-ins, counted per key (a hash) until expires_at.
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
