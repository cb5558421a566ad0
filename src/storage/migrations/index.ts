import type { Migration } from 'kysely'
import * as initial from './2026-11-23-01-initial.js'
import * as authorization from './2026-11-23-02-authorization.js'
import * as loginAttempts from './2026-11-23-03-login-attempts.js'
import * as openidConnect from './2026-11-23-04-openid-connect.js'
import * as failureCounters from './2026-11-30-01-failure-counters.js'
import * as boundedStorage from './2026-11-30-02-bounded-storage.js'
import * as clientAudiences from './2026-11-30-03-client-audiences.js'
import * as uiLocales from './2026-11-30-04-ui-locales.js'
import * as administration from './2026-11-30-05-administration.js'
import * as registration from './2026-12-01-01-registration.js'
import * as deviceAuthorization from './2026-12-01-02-device-authorization.js'
import * as clientOrigins from './2026-12-01-03-client-origins.js'
import * as secondFactors from './2026-12-02-01-second-factors.js'
import * as openRowIndexes from './2026-12-02-02-open-row-indexes.js'

/** Every migration, by name; listed here so the Migrator scans no folder. */
export const migrations: Record<string, Migration> = {
  '2026-11-23-01-initial': initial,
  '2026-11-23-02-authorization': authorization,
  '2026-11-23-03-login-attempts': loginAttempts,
  '2026-11-23-04-openid-connect': openidConnect,
  '2026-11-30-01-failure-counters': failureCounters,
  '2026-11-30-02-bounded-storage': boundedStorage,
  '2026-11-30-03-client-audiences': clientAudiences,
  '2026-11-30-04-ui-locales': uiLocales,
  '2026-11-30-05-administration': administration,
  '2026-12-01-01-registration': registration,
  '2026-12-01-02-device-authorization': deviceAuthorization,
  '2026-12-01-03-client-origins': clientOrigins,
  '2026-12-02-01-second-factors': secondFactors,
  '2026-12-02-02-open-row-indexes': openRowIndexes,
}
