import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// RFC 8707 audiences per client: `resources` lists what a client may request (JSON text, as the
// other list columns; empty means DEFAULT_AUDIENCE only). A remembered consent is now for one
// resource: its key gains the resource, so consent to one API's scopes never covers another's.
// Consents remembered before did not say for which resource; they are dropped and their users
// consent once more.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('resources', 'text', (c) => c.notNull().defaultTo('[]')).execute()
  await db.schema.dropTable('consents').execute()
  await db.schema
    .createTable('consents')
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consents_pk', ['client_id', 'user_id', 'resource'])
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('consents').execute()
  await db.schema
    .createTable('consents')
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consents_pk', ['client_id', 'user_id'])
    .execute()
  await db.schema.alterTable('clients').dropColumn('resources').execute()
}
