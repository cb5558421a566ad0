import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// Bounded storage: each transaction records the client network that opened it, so the open ones
// of one address can be counted from an index; and an index on expires_at for every table the
// purge sweeps by expiry, so choosing a batch reads the expired rows only, never the whole table.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_transactions').addColumn('address', 'text').execute()
  await db.schema
    .createIndex('authorization_transactions_address_idx')
    .on('authorization_transactions')
    .columns(['address', 'expires_at'])
    .execute()
  for (const table of EXPIRING) {
    await db.schema.createIndex(`${table}_expires_idx`).ifNotExists().on(table).column('expires_at').execute()
  }
}

const EXPIRING = [
  'authorization_transactions',
  'login_sessions',
  'authorization_codes',
  'access_tokens',
  'revoked_jtis',
  'login_attempts',
  'failure_counters',
]

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of EXPIRING) await db.schema.dropIndex(`${table}_expires_idx`).ifExists().execute()
  await db.schema.dropIndex('authorization_transactions_address_idx').execute()
  await db.schema.alterTable('authorization_transactions').dropColumn('address').execute()
}
