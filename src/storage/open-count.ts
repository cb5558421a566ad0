import type { Kysely } from 'kysely'
import { fromDbTime } from './convert.js'
import type { Database } from './database.js'

/**
 * The tables whose open rows an address may hold only so many of, and the column that marks a
 * row finished before it expires (null: a row is open until it expires). Each has an (address,
 * expires_at) index; where a row can finish, of the unfinished rows only (`where completed_at is
 * null`), so finished rows are never read. A new table joins with one line here and its index.
 */
const FINISHED_COLUMN = {
  authorization_transactions: 'completed_at',
  device_authorizations: null,
  account_sign_ins: 'completed_at',
} as const satisfies { [T in keyof Database]?: 'completed_at' | null }

export type OpenCountTable = keyof typeof FINISHED_COLUMN

/** The open rows of one address, counted up to a limit. */
export interface OpenCount {
  /** How many are open (unexpired and, where the table can say so, not finished), at most the limit asked for. */
  count: number
  /** When the first of them expires; null when none is open. */
  firstExpiresAt: number | null
}

/** The columns the count reads, which every OpenCountTable has. */
interface CountedRow {
  address: string | null
  expires_at: number
  completed_at: number | null
}

/**
 * The count of the open rows of `address` in `table`: reads at most `limit` entries of the table's
 * index of open rows, in expiry order, however many rows the address has or had.
 */
export function openRowsQuery(db: Kysely<Database>, table: OpenCountTable, address: string, now: number, limit: number) {
  // Each OpenCountTable has these columns (checked below); kysely cannot type a query over a union of tables.
  const counted = db as unknown as Kysely<Record<OpenCountTable, CountedRow>>
  const finished = FINISHED_COLUMN[table]
  return counted
    .selectFrom((eb) => {
      let open = eb
        .selectFrom(table)
        .select('expires_at')
        .where('address', '=', address)
        .where('expires_at', '>', now)
      if (finished !== null) open = open.where(finished, 'is', null)
      return open.orderBy('expires_at').limit(limit).as('open')
    })
    .select((eb) => [eb.fn.countAll().as('count'), eb.fn.min('expires_at').as('first')])
}

/** Counts the open rows of `address` in `table` (openRowsQuery), up to `limit`. */
export async function countOpenRows(
  db: Kysely<Database>,
  table: OpenCountTable,
  address: string,
  now: number,
  limit: number,
): Promise<OpenCount> {
  const row = await openRowsQuery(db, table, address, now, limit).executeTakeFirstOrThrow()
  return { count: Number(row.count), firstExpiresAt: row.first === null ? null : fromDbTime(row.first) }
}

// The cast above is safe only while every table listed has the columns read: this fails to compile otherwise.
type Needed<T extends OpenCountTable> = { address: string | null; expires_at: number } & ((typeof FINISHED_COLUMN)[T] extends null
  ? unknown
  : { completed_at: number | null })
const everyTableCounts: { [T in OpenCountTable]: Database[T] extends Needed<T> ? true : false } = {
  authorization_transactions: true,
  device_authorizations: true,
  account_sign_ins: true,
}
void everyTableCounts
