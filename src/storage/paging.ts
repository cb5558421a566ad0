import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely'

/** One page of an administrative list: rows after the sort key `after`, at most `limit`. */
export interface PageQuery {
  after?: string | undefined
  limit: number
  /** A case-insensitive substring to match. */
  search?: string | undefined
}

/**
 * `lower(column) LIKE '%search%'`, with `%`, `_` and `\` in the search matched literally; the
 * explicit ESCAPE makes it mean the same on both dialects.
 */
export function containsIgnoringCase(column: Expression<string | null>, search: string): RawBuilder<SqlBool> {
  const escaped = search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)
  return sql<SqlBool>`lower(${column}) like ${`%${escaped}%`} escape '\\'`
}
