import type { Migration } from 'kysely'
import * as initial from './2026-11-23-01-initial.js'

/** Every migration, by name; listed here so the Migrator scans no folder. */
export const migrations: Record<string, Migration> = {
  '2026-11-23-01-initial': initial,
}
