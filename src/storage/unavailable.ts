/**
 * Whether an error means the database cannot be reached or cannot answer now, rather than that
 * the query or the data is wrong: the one list the error handler turns into 503
 * `temporarily_unavailable`. Everything else stays a bug (500).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let e: unknown = error
  // The driver's error may come wrapped (kysely, the pool's "connection timeout" around the socket's).
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    const message = e.message
    if (isUnavailableCode((e as { code?: unknown }).code) || UNAVAILABLE_MESSAGES.some((m) => m.test(message))) return true
    // Node reports a refused connection to a host with several addresses as one AggregateError.
    if (e instanceof AggregateError && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true
    e = e.cause
  }
  return false
}

/** The socket to the database failed (Node's system error codes). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/**
 * PostgreSQL SQLSTATEs: class 08 (connection exception), 53300 too_many_connections, 57014
 * query_canceled (statement_timeout), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting up or in recovery), 55P03 lock_not_available.
 */
const POSTGRES_CODES = new Set(['53300', '57014', '57P01', '57P02', '57P03', '55P03'])

function isUnavailableCode(code: unknown): boolean {
  if (typeof code !== 'string') return false
  if (NETWORK_CODES.has(code) || POSTGRES_CODES.has(code)) return true
  if (/^08[0-9A-Z]{3}$/.test(code)) return true
  // SQLite: another process held the lock past the busy timeout.
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')
}

/** node-postgres and its pool say these in words, with no code. */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, // unexpectedly, or due to connection timeout
  /^timeout exceeded when trying to connect$/, // no free connection in the pool in time
  /^Query read timeout$/, // query_timeout: the server did not answer
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/, // shutting down
]
