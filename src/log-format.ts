/**
 * The log for a person at a terminal: pino's JSON lines (fastify's logger) turned into one short
 * line per request or event. main.ts uses it only when stdout is a TTY; anything else (a file,
 * a pipe, a log collector) gets the JSON lines unchanged. It only reshapes what the app logs,
 * and the app logs no secret (request lines carry no query string and no header).
 *
 * pino-pretty does this too, but brings a worker-thread transport and six dependencies for what
 * fits in a page; see README "Logs".
 */

export interface LineSink {
  write(text: string): unknown
}

interface LogRecord {
  level?: number
  time?: number
  msg?: string
  reqId?: string
  req?: { method?: string; path?: string; url?: string }
  res?: { statusCode?: number }
  responseTime?: number
  audit?: boolean
  event?: string
  err?: { type?: string; message?: string; stack?: string }
  [key: string]: unknown
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const COLORS: Record<string, string | undefined> = { TRACE: '90', DEBUG: '90', INFO: '32', WARN: '33', ERROR: '31', FATAL: '31', AUDIT: '36' }
/** Fields every line has, or that the line's own shape already shows. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'reqId', 'req', 'res', 'responseTime', 'audit', 'err'])

function clock(time: number | undefined): string {
  const date = time === undefined ? new Date() : new Date(time)
  return date.toISOString().slice(11, 19)
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  return JSON.stringify(value)
}

function fields(record: LogRecord): string {
  return Object.entries(record)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${fieldText(value)}`)
    .join(' ')
}

/**
 * A writable for pino (`logger: { stream }`) that writes pretty lines to `out`. The app logs a
 * request once, when it completes ("request completed" with its method, path, status and time).
 */
export function prettyLogStream(out: LineSink, options: { color?: boolean } = {}): LineSink {
  const paint = (label: string): string => {
    const padded = label.padEnd(5)
    const color = options.color ? COLORS[label] : undefined
    return color === undefined ? padded : `\x1b[${color}m${padded}\x1b[0m`
  }
  const line = (record: LogRecord, label: string, text: string): void => {
    const extra = fields(record)
    let output = `${`${clock(record.time)} ${paint(label)} ${text}`.trimEnd()}${extra === '' ? '' : `  ${extra}`}\n`
    if (record.err) {
      output += `  ${record.err.type ?? 'Error'}: ${record.err.message ?? ''}\n`
      if (record.err.stack) output += `${record.err.stack.split('\n').slice(1).map((l) => `  ${l.trim()}`).join('\n')}\n`
    }
    out.write(output)
  }
  const format = (text: string): void => {
    let record: LogRecord
    try {
      record = JSON.parse(text) as LogRecord
    } catch {
      out.write(`${text}\n`)
      return
    }
    const label = LEVELS[record.level ?? 30] ?? 'INFO'
    if (record.msg === 'request completed' && record.reqId !== undefined) {
      const path = record.req?.path ?? record.req?.url?.split('?')[0] ?? '?'
      const ms = typeof record.responseTime === 'number' ? ` ${record.responseTime.toFixed(1)} ms` : ''
      line(record, label, `${record.req?.method ?? '?'} ${path} → ${record.res?.statusCode ?? '?'}${ms}`)
      return
    }
    if (record.audit === true && typeof record.event === 'string') {
      const { event, ...rest } = record
      line(rest, 'AUDIT', event)
      return
    }
    line(record, label, record.msg ?? '')
  }
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) if (text !== '') format(text)
      return true
    },
  }
}
