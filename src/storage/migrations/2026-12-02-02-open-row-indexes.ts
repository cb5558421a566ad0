import { sql, type Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// The open rows of an address are counted up to a limit (open-count.ts), reading the (address,
// expires_at) index in expiry order. A finished row stays until it expires, and the index held it
// too: every /authorize from an address read past all the transactions it had completed in the
// last ten minutes (8,000 of them took 0.65 ms on SQLite, holding its one connection; a busy NAT
// gateway has more). Indexing only the unfinished rows bounds the read by the limit again.

const FINISHED = ['authorization_transactions', 'account_sign_ins']

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of FINISHED) {
    await db.schema.dropIndex(`${table}_address_idx`).execute()
    await db.schema.createIndex(`${table}_open_idx`).on(table).columns(['address', 'expires_at']).where(sql.ref('completed_at'), 'is', null).execute()
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of FINISHED) {
    await db.schema.dropIndex(`${table}_open_idx`).execute()
    await db.schema.createIndex(`${table}_address_idx`).on(table).columns(['address', 'expires_at']).execute()
  }
}
