import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// RFC 8707 audiences per client: `resources` lists what a client may request (JSON text, as the
// other list columns; empty means DEFAULT_AUDIENCE only), and a remembered consent lists the
// resources it was given for. Existing consents get none, so their users consent once more.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('resources', 'text', (c) => c.notNull().defaultTo('[]')).execute()
  await db.schema.alterTable('consents').addColumn('resources', 'text', (c) => c.notNull().defaultTo('[]')).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('consents').dropColumn('resources').execute()
  await db.schema.alterTable('clients').dropColumn('resources').execute()
}
