import type { PageQuery } from '../storage/paging.js'
import { AdminError, refuseControlCharacters } from './admin-error.js'

/** A list as the CLI prints it and the API answers it (ARCHITECTURE.md: `{"items","next"}`). */
export interface Page<T> {
  items: T[]
  /** The cursor for the next page (`--after`, `?after=`); null on the last page. */
  next: string | null
}

/** What a caller asks of a list; the limit arrives as typed (CLI) or already a number (API). */
export interface ListInput {
  limit?: number | string | undefined
  after?: string | undefined
  search?: string | undefined
}

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 500
const MAX_SEARCH = 255

/**
 * Cursors are opaque: the base64url of the last item's sort key (a unique, indexed column), so
 * the next page is one indexed range scan whatever the page number (keyset pagination).
 */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8')
  // Only a cursor this code produced decodes back to itself.
  if (cursor === '' || encodeCursor(key) !== cursor) throw new AdminError('--after is not a cursor from this list')
  // A cursor this code produced holds no control character: a forged one is refused here.
  refuseControlCharacters({ after: key })
  return key
}

function parseLimit(limit: number | string | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT
  const value = typeof limit === 'number' ? limit : /^\d{1,4}$/.test(limit) ? Number(limit) : NaN
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIMIT) throw new AdminError(`--limit must be an integer from 1 to ${MAX_LIMIT}`)
  return value
}

/** The storage query for a list request: one row more than the page, to know whether another follows. */
export function pageQuery(input: ListInput): PageQuery & { pageSize: number } {
  const pageSize = parseLimit(input.limit)
  refuseControlCharacters({ search: input.search, after: input.after })
  const search = input.search?.trim()
  if (search !== undefined && search.length > MAX_SEARCH) throw new AdminError(`--search must be at most ${MAX_SEARCH} characters`)
  return {
    pageSize,
    limit: pageSize + 1,
    after: input.after === undefined ? undefined : decodeCursor(input.after),
    search: search === '' ? undefined : search,
  }
}

/** The page of `rows` (fetched with pageQuery's limit), each shown by `view`, keyed by `key`. */
export function toPage<R, T>(rows: readonly R[], pageSize: number, key: (row: R) => string, view: (row: R) => T): Page<T> {
  const shown = rows.slice(0, pageSize)
  const last = shown[shown.length - 1]
  return { items: shown.map(view), next: rows.length > pageSize && last !== undefined ? encodeCursor(key(last)) : null }
}

/** Epoch milliseconds as the ISO 8601 string every administrative answer uses. */
export function iso(ms: number): string {
  return new Date(ms).toISOString()
}
