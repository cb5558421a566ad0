import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import { sql } from 'kysely'
import type { Database } from './database.js'

/** What decides when a row has no more use. Times are epoch milliseconds. */
export interface PurgePolicy {
  now: number
  /** ACCESS_TOKEN_TTL: how long an access token issued from a code or a family may still be used. */
  accessTokenTtlMs: number
  /** REFRESH_TOKEN_MAX_TTL: the absolute lifetime of a refresh-token family. */
  refreshTokenMaxTtlMs: number
  /** REGISTRATION_UNUSED_DAYS: how long a self-registered client may go without a token; default 30 days. */
  registrationUnusedMs?: number
}

export function purgePolicy(
  config: { accessTokenTtlSeconds: number; refreshTokenMaxTtlSeconds: number; registration?: { unusedDays: number } },
  now: number,
): PurgePolicy {
  return {
    now,
    accessTokenTtlMs: config.accessTokenTtlSeconds * 1000,
    refreshTokenMaxTtlMs: config.refreshTokenMaxTtlSeconds * 1000,
    registrationUnusedMs: (config.registration?.unusedDays ?? DEFAULT_UNUSED_DAYS) * DAY_MS,
  }
}

const DAY_MS = 86_400_000
/** As TOTP_ENROLMENT_TTL_MS in src/accounts/totp.ts (storage imports no account code). */
const UNCONFIRMED_TOTP_MS = DAY_MS
const DEFAULT_UNUSED_DAYS = 30

/** Rows one statement deletes at most, so no purge holds a write lock for long. */
export const PURGE_BATCH_SIZE = 500

// Rules name tables and columns as strings, some of them (failure_counters) owned by other parts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyBuilder = ExpressionBuilder<any, any>

interface PurgeRule {
  table: string
  /** The primary key. */
  key: string
  /**
   * The rows that may go. It must stay true once true (an expiry passed, a revocation made):
   * a batch is chosen by one statement and deleted by another, which checks it again.
   */
  purgeable(eb: AnyBuilder, policy: PurgePolicy): Expression<SqlBool>
  /** Rows that reference a purged row: deleted first, by its key, and counted under their table. */
  children?: { table: string; column: string }[]
}

const expired = (eb: AnyBuilder, policy: PurgePolicy) => eb('expires_at', '<=', policy.now)

/**
 * A family can no longer be used, nor anything it issued: revoked, past its absolute lifetime,
 * or with every refresh token expired; in each case for longer than an access token lives, so
 * the access tokens it issued have expired too. Until then its rotated tokens stay: presenting
 * one revokes the family (RFC 9700 §4.14.2), so they are never purged one by one.
 */
function deadFamily(eb: AnyBuilder, policy: PurgePolicy): Expression<SqlBool> {
  const since = policy.now - policy.accessTokenTtlMs
  return eb.or([
    eb('revoked_at', '<=', since),
    eb('created_at', '<=', since - policy.refreshTokenMaxTtlMs),
    eb.not(
      eb.exists(
        eb
          .selectFrom('refresh_tokens as live')
          .select(sql.lit(1).as('one'))
          .whereRef('live.family_id', '=', 'refresh_token_families.id')
          .where('live.expires_at', '>', since),
      ),
    ),
  ])
}

/** A self-registered client no token was ever issued to goes after this, whatever REGISTRATION_UNUSED_DAYS says. */
export const NEVER_USED_REGISTRATION_MS = 86_400_000

/**
 * A self-registered client no token was issued to for REGISTRATION_UNUSED_DAYS, or never one
 * within NEVER_USED_REGISTRATION_MS of registering: anyone may register, so what nobody uses
 * must not pile up. The unused period (2 days at least) outlasts any access token it was
 * issued, and a client with a refresh token still valid (in a family not revoked) stays, as
 * REFRESH_TOKEN_TTL may be the longer. Deleting it takes its families, codes, consents and
 * transactions along (ON DELETE CASCADE).
 */
function unusedSelfRegistered(eb: AnyBuilder, policy: PurgePolicy): Expression<SqlBool> {
  const since = policy.now - (policy.registrationUnusedMs ?? DEFAULT_UNUSED_DAYS * DAY_MS)
  return eb.and([
    eb('self_registered', '=', 1),
    eb.or([
      eb.and([eb('last_used_at', 'is', null), eb('created_at', '<=', policy.now - NEVER_USED_REGISTRATION_MS)]),
      eb(eb.fn.coalesce('last_used_at', 'created_at'), '<=', since),
    ]),
    eb.not(
      eb.exists(
        eb
          .selectFrom('refresh_token_families as family')
          .innerJoin('refresh_tokens as live', 'live.family_id', 'family.id')
          .select(sql.lit(1).as('one'))
          .whereRef('family.client_id', '=', 'clients.id')
          .where('family.revoked_at', 'is', null)
          .where('live.expires_at', '>', policy.now),
      ),
    ),
  ])
}

/**
 * The one list of what is purged, in order: rows that reference others go before them.
 * Never purged: users, scopes, consents (they do not expire), clients an administrator added.
 */
export const PURGE_RULES: readonly PurgeRule[] = [
  // Completed or not: once expired, no form can use it (transactions.ts load()).
  { table: 'authorization_transactions', key: 'id', purgeable: expired },
  // The sign-ins to /account/security, likewise.
  { table: 'account_sign_ins', key: 'id', purgeable: expired },
  { table: 'login_sessions', key: 'id_hash', purgeable: expired },
  // RFC 8628 §3.2: once expired a device code is refused, approved or not; before the codes
  // its approvals wrote, which it references.
  { table: 'device_authorizations', key: 'id', purgeable: expired },
  // A jti record serves revocation only until the token expires; before codes and families,
  // which they reference, so few rows are left for ON DELETE SET NULL to unlink.
  { table: 'access_tokens', key: 'jti', purgeable: expired },
  { table: 'revoked_jtis', key: 'jti', purgeable: expired },
  // RFC 9700 §4.2.4: a replayed code revokes what it yielded, so a code is kept until every
  // access token issued from it has expired (a code is redeemed before its own expiry).
  {
    table: 'authorization_codes',
    key: 'id',
    purgeable: (eb, policy) => eb('expires_at', '<=', policy.now - policy.accessTokenTtlMs),
  },
  {
    table: 'refresh_token_families',
    key: 'id',
    purgeable: deadFamily,
    children: [{ table: 'refresh_tokens', column: 'family_id' }],
  },
  // An expired count is one a new attempt starts again from 1 (login-attempts.ts).
  { table: 'login_attempts', key: 'key_hash', purgeable: expired },
  { table: 'failure_counters', key: 'key_hash', purgeable: expired },
  // RFC 7591 initial access tokens: used or not, useless once expired.
  { table: 'initial_access_tokens', key: 'token_hash', purgeable: expired },
  { table: 'clients', key: 'id', purgeable: unusedSelfRegistered },
  // An authenticator-app enrolment not confirmed within a day is abandoned (it no longer
  // confirms: src/accounts/totp.ts). Restarting it renews created_at, which the delete re-checks.
  {
    table: 'totp_factors',
    key: 'user_id',
    purgeable: (eb, policy) => eb.and([eb('confirmed_at', 'is', null), eb('created_at', '<=', policy.now - UNCONFIRMED_TOTP_MS)]),
  },
]

/** Every purged table, each with the rows deleted (0 included). */
export type PurgeCounts = Record<string, number>

/**
 * Deletes what PURGE_RULES allow, in batches of `batchSize` rows, each batch its own statements
 * and no transaction spanning them. Several instances may run it at once: a row deleted twice
 * counts once, and a row that changed in between (a login attempt counted again) is kept.
 */
export async function purgeExpired(db: Kysely<Database>, policy: PurgePolicy, batchSize = PURGE_BATCH_SIZE): Promise<PurgeCounts> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const anyDb = db as unknown as Kysely<any>
  const counts: PurgeCounts = {}
  const add = (table: string, deleted: number | bigint) => {
    counts[table] = (counts[table] ?? 0) + Number(deleted)
  }
  for (const rule of PURGE_RULES) {
    for (const child of rule.children ?? []) add(child.table, 0)
    add(rule.table, 0)
  }
  for (const rule of PURGE_RULES) {
    for (;;) {
      const rows = await anyDb
        .selectFrom(rule.table)
        .select(rule.key)
        .where((eb) => rule.purgeable(eb, policy))
        .limit(batchSize)
        .execute()
      const keys = rows.map((row) => (row as Record<string, unknown>)[rule.key])
      if (keys.length === 0) break
      for (const child of rule.children ?? []) {
        add(child.table, (await anyDb.deleteFrom(child.table).where(child.column, 'in', keys).executeTakeFirst()).numDeletedRows)
      }
      const result = await anyDb
        .deleteFrom(rule.table)
        .where(rule.key, 'in', keys)
        .where((eb) => rule.purgeable(eb, policy))
        .executeTakeFirst()
      add(rule.table, result.numDeletedRows)
      if (keys.length < batchSize) break
    }
  }
  return counts
}

/** Where a scheduled purge reports (fastify's logger fits). */
export interface PurgeLog {
  info(details: object, message: string): void
  error(details: object, message: string): void
}

export interface PurgeSchedule {
  start(): void
  /** No further runs; resolves once a run in progress has finished (the store may then close). */
  stop(): Promise<void>
}

/**
 * Runs `purge` every `intervalMs`, the next run timed from the end of the last, so runs never
 * overlap. The first comes after a random part of the interval: instances started together
 * spread out, and one restarted more often than the interval still purges. The timer is
 * unref'd (it never keeps the process alive); a failed purge is logged and tried again next time.
 */
export function schedulePurges(deps: {
  intervalMs: number
  purge: () => Promise<PurgeCounts>
  log: PurgeLog
  firstDelayMs?: number
}): PurgeSchedule {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const arm = (delayMs: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined
        arm(deps.intervalMs)
      })
    }, delayMs)
    timer.unref()
  }
  const run = async () => {
    try {
      const deleted = await deps.purge()
      deps.log.info({ event: 'purge', deleted }, 'purged expired rows')
    } catch (error) {
      deps.log.error({ event: 'purge', err: error }, 'purge failed')
    }
  }
  return {
    start() {
      if (timer !== undefined || stopped) return
      arm(deps.firstDelayMs ?? Math.floor(Math.random() * deps.intervalMs))
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
