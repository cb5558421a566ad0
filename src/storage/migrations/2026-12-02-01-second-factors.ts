import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// A second factor and passkeys at sign-in. How a user authenticated travels with every sign-in
// as `amr` (RFC 8176, a JSON list like ["pwd","otp","mfa"]): on the login session, the
// authorization transaction, the code, the refresh-token family and the device authorization,
// so ID tokens, access tokens and introspection can say it. A null amr is an older row: a
// password sign-in. A transaction (and an account sign-in) whose password was checked but whose
// second factor is still to come holds the user as pending, never as its user.
// - totp_factors: one authenticator-app secret per user (RFC 6238), encrypted by the app; an
//   unconfirmed row is an enrolment in progress; last_step stops a code being used twice.
// - recovery_codes: single-use codes, stored as SHA-256 hashes.
// - passkeys: WebAuthn credentials, looked up by credential id.
// - account_sign_ins: the sign-in that leads to /account/security, bound to a browser like a
//   transaction, capped per address like one.
// - clients.require_mfa: the client accepts only a sign-in with two factors or a passkey.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('totp_factors')
    .addColumn('user_id', 'varchar(36)', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('confirmed_at', 'bigint')
    .addColumn('last_step', 'bigint')
    .execute()
  await db.schema
    .createTable('recovery_codes')
    .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema.createIndex('recovery_codes_user_idx').on('recovery_codes').column('user_id').execute()
  await db.schema
    .createTable('passkeys')
    .addColumn('credential_id', 'varchar(1400)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('name', 'varchar(64)', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute()
  await db.schema.createIndex('passkeys_user_idx').on('passkeys').column('user_id').execute()
  await db.schema
    .createTable('account_sign_ins')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('browser_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('csrf_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('ui_locale', 'varchar(35)')
    .addColumn('pending_user_id', 'varchar(36)', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('pending_amr', 'varchar(64)')
    .addColumn('passkey_challenge', 'varchar(128)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .execute()
  await db.schema.createIndex('account_sign_ins_address_idx').on('account_sign_ins').columns(['address', 'expires_at']).execute()
  await db.schema.createIndex('account_sign_ins_expires_idx').on('account_sign_ins').column('expires_at').execute()
  for (const table of ['login_sessions', 'authorization_transactions', 'authorization_codes', 'refresh_token_families', 'device_authorizations']) {
    await db.schema.alterTable(table).addColumn('amr', 'varchar(64)').execute()
  }
  await db.schema.alterTable('login_sessions').addColumn('passkey_challenge', 'varchar(128)').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('pending_user_id', 'varchar(36)').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('pending_amr', 'varchar(64)').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('passkey_challenge', 'varchar(128)').execute()
  await db.schema.alterTable('authorization_transactions').addColumn('acr_values', 'varchar(255)').execute()
  await db.schema.alterTable('clients').addColumn('require_mfa', 'integer', (c) => c.notNull().defaultTo(0)).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_mfa').execute()
  for (const column of ['acr_values', 'passkey_challenge', 'pending_amr', 'pending_user_id']) {
    await db.schema.alterTable('authorization_transactions').dropColumn(column).execute()
  }
  await db.schema.alterTable('login_sessions').dropColumn('passkey_challenge').execute()
  for (const table of ['device_authorizations', 'refresh_token_families', 'authorization_codes', 'authorization_transactions', 'login_sessions']) {
    await db.schema.alterTable(table).dropColumn('amr').execute()
  }
  await db.schema.dropTable('account_sign_ins').execute()
  await db.schema.dropTable('passkeys').execute()
  await db.schema.dropTable('recovery_codes').execute()
  await db.schema.dropTable('totp_factors').execute()
}
