import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// OpenID Connect: the nonce travels from /authorize through the code into the ID token,
// login_hint fills the username field, max_age is checked again at consent; the built-in scopes get the descriptions the consent
// page shows (only where an administrator has not changed them).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_transactions').addColumn('nonce', 'text').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('login_hint', 'text').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('max_age', 'bigint').execute()
  await db.schema.alterTable('authorization_codes').addColumn('nonce', 'text').execute()
  const descriptions: [string, string, string][] = [
    ['openid', 'Sign you in and confirm who you are', 'Sign you in with your latchkey account and learn your user id'],
    ['profile', 'See your name', 'See your name and username'],
    ['email', 'See your email address', 'See your email address'],
    ['offline_access', 'Stay connected while you are away', 'Keep access while you are not using it, until you revoke it'],
  ]
  for (const [name, before, after] of descriptions) {
    await db.updateTable('scopes').set({ description: after }).where('name', '=', name).where('description', '=', before).execute()
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_codes').dropColumn('nonce').execute()
  await db.schema.alterTable('authorization_transactions').dropColumn('max_age').execute()
  await db.schema.alterTable('authorization_transactions').dropColumn('login_hint').execute()
  await db.schema.alterTable('authorization_transactions').dropColumn('nonce').execute()
}
