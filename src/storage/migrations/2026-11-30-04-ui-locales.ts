import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// OIDC ui_locales: the language a request chose for the pages (a short tag such as `de`, picked
// from the request's list), kept with the transaction so the login and consent forms posted
// after it are answered in the same language. Null: each request's Accept-Language decides.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_transactions').addColumn('ui_locale', 'varchar(35)').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_transactions').dropColumn('ui_locale').execute()
}
