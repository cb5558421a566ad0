import type { Command } from 'commander'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { Page } from '../admin/paging.js'
import type { AuditEvent, AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { loadConfig } from '../config.js'
import { connect, type Store } from '../storage/connect.js'
import { migrate } from '../storage/migrate.js'

/** Where the CLI reads and writes: the process's own streams, or a test's buffers. */
export interface CliIo {
  env: Record<string, string | undefined>
  stdout(text: string): void
  stderr(text: string): void
  readStdin(): string
  /** The production argon2id costs unless a test swaps in cheap ones. */
  passwords?: PasswordHasher
  /** The system clock unless a test moves time. */
  clock?: Clock
}

/** The acting party the CLI records in audit events. */
export const CLI_ACTOR = 'cli'

export const collect = (value: string, previous: string[]): string[] => [...previous, value]

/**
 * The CLI's audit log: one JSON line per security event on stderr, so `--json` output on stdout
 * stays exactly one value and a log collector reading stderr sees the same events as the
 * server's (`"audit":true`).
 */
export function stderrAudit(io: CliIo): AuditLog {
  return {
    record(event: AuditEvent) {
      io.stderr(`${JSON.stringify({ time: new Date().toISOString(), audit: true, ...event, via: 'cli' })}\n`)
    },
  }
}

/** Opens the database (migrated, as the server would have it), runs `work`, closes it. */
export async function withStore<T>(io: CliIo, work: (store: Store) => Promise<T>): Promise<T> {
  const store = connect(loadConfig(io.env).database)
  try {
    await migrate(store)
    return await work(store)
  } finally {
    await store.close()
  }
}

/** `--json`: exactly one JSON value; otherwise the human lines. */
export function printer(io: CliIo) {
  return (json: boolean | undefined, value: unknown, human: string): void => {
    io.stdout(json === true ? `${JSON.stringify(value)}\n` : `${human}\n`)
  }
}

/** A page as lines, with the command that fetches the next one. */
export function pageLines<T>(page: Page<T>, line: (item: T) => string): string {
  const lines = page.items.length === 0 ? ['(none)'] : page.items.map(line)
  if (page.next !== null) lines.push(`more: --after ${page.next}`)
  return lines.join('\n')
}

/** An object as `key: value` lines (lists joined by spaces). */
export function fieldLines(value: object): string {
  return Object.entries(value)
    .map(([key, v]) => `${key}: ${Array.isArray(v) ? v.join(' ') : v === null ? '-' : String(v)}`)
    .join('\n')
}

/**
 * The list options every list command shares. `search` says what `--search` matches; without
 * it the list has nothing to search by and offers no `--search` (so giving one is an error).
 */
export function listOptions(command: Command, search?: string): Command {
  command.option('--limit <n>', 'items per page, 1 to 500 (default 50)').option('--after <cursor>', 'the cursor printed with the previous page ("next")')
  if (search !== undefined) command.option('--search <text>', `only items whose ${search} contains this text (case-insensitive)`)
  return command.option('--json', 'print {"items":[…],"next":CURSOR-or-null}')
}

export interface ListOpts {
  limit?: string
  after?: string
  search?: string
  json?: boolean
}

/** One line of a password from stdin: a trailing newline (echo, a here-string) is not part of it. */
export function readPasswordFromStdin(io: CliIo): string {
  return io.readStdin().replace(/\r?\n$/, '')
}
