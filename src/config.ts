import { isIP } from 'node:net'
import { isResourceUri, RESOURCE_URI_RULE } from './oauth/resource-uri.js'

export type PkceRequired = 'all' | 'public'

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * Which reverse proxies' X-Forwarded-For and X-Forwarded-Proto to believe (fastify's
 * `trustProxy`): none (false), the nearest N hops, or the proxies at these addresses/CIDRs.
 */
export type TrustProxy = false | number | readonly string[]

export type DatabaseTarget =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }

export interface Config {
  port: number
  host: string
  issuer: string
  database: DatabaseTarget
  keysDir: string
  defaultAudience: string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
  codeTtlSeconds: number
  pkceRequired: PkceRequired
  trustProxy: TrustProxy
  /** Failed sign-ins from one address per 15 minutes before every sign-in from it is refused. */
  limitSignInFailuresPerAddress: number
  /** Failed client authentications per client_id and address per 15 minutes before 429. */
  limitClientAuthFailures: number
  /** Seconds between the server's purges of expired rows; 0: only `latchkey purge`. */
  purgeIntervalSeconds: number
  /** Request logs; audit events are written whatever it says. */
  logLevel: LogLevel
}

/** A bad configuration value; the message is one line naming the variable. */
export class ConfigError extends Error {
  constructor(variable: string, expected: string) {
    super(`${variable} ${expected}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname)
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`)
  }
  return value
}

/** HOST values that accept connections from this machine only. */
export function isLoopbackListenAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)
}

/**
 * ISSUER. Unset, it follows PORT on `localhost` (a host name, not an address: WebAuthn and the
 * demo resource server need one). A server listening beyond loopback is reached under a name
 * only the operator knows, so there it must be set.
 */
function issuer(env: Env, host: string, port: number): string {
  if (!env.ISSUER && !isLoopbackListenAddress(host)) {
    throw new ConfigError('ISSUER', `must be set when HOST is not a loopback address (HOST=${host}): the URL clients reach this server at, such as https://auth.example.com`)
  }
  const raw = env.ISSUER || `http://localhost:${port}`
  const expected = 'must be an origin such as https://auth.example.com (no path, query, fragment or trailing slash)'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError('ISSUER', `${expected}, got "${raw}"`)
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== raw) {
    throw new ConfigError('ISSUER', `${expected}, got "${raw}"`)
  }
  // OAuth 2.1 §1.5: every AS URL is https, loopback excepted.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError('ISSUER', `must use https unless its host is loopback, got "${raw}"`)
  }
  return raw
}

/** Parses DATABASE_URL. A path or `sqlite:PATH` selects SQLite; postgres:// selects PostgreSQL. */
export function parseDatabaseUrl(raw: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//i.test(raw)) {
    try {
      new URL(raw)
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a valid postgres:// URL')
    }
    return { kind: 'postgres', url: raw }
  }
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length)
    if (path === '') throw new ConfigError('DATABASE_URL', 'must name a file after sqlite:')
    return { kind: 'sqlite', path }
  }
  // Any other "scheme:" (mysql://, http:, …) is an error rather than a file of that name.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)
  if (scheme) {
    throw new ConfigError(
      'DATABASE_URL',
      `must be a file path, sqlite:PATH or a postgres:// URL (scheme "${scheme[1]}" is not supported)`,
    )
  }
  return { kind: 'sqlite', path: raw }
}

function absoluteUri(env: Env, name: string, fallback: string): string {
  const raw = env[name] || fallback
  if (!isResourceUri(raw)) throw new ConfigError(name, `must be ${RESOURCE_URI_RULE}, got ${JSON.stringify(raw)}`)
  return raw
}

const TRUST_PROXY_EXPECTED = 'must be "off", a hop count from 1 to 10, or a comma list of proxy addresses or CIDRs'

/**
 * TRUST_PROXY. Trusting every hop is refused: any client could then name any address in
 * X-Forwarded-For and step past every per-address limit.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy {
  const value = (raw ?? '').trim()
  if (value === '' || value.toLowerCase() === 'off') return false
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    if (hops < 1 || hops > 10) throw new ConfigError('TRUST_PROXY', `${TRUST_PROXY_EXPECTED} (got "${value}")`)
    return hops
  }
  const trustsAll = `must not trust every hop, which would let any client forge X-Forwarded-For (got "${value}"); use a hop count or the proxies' addresses`
  if (/^(true|yes|on|all|\*)$/i.test(value)) throw new ConfigError('TRUST_PROXY', trustsAll)
  const entries = value.split(',').map((entry) => entry.trim())
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/')
    const family = isIP(address)
    const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN
    if (family === 0 || rest.length > 0 || Number.isNaN(bits) || (bits ?? 0) > (family === 4 ? 32 : 128)) {
      throw new ConfigError('TRUST_PROXY', `${TRUST_PROXY_EXPECTED} (got "${entry}")`)
    }
    // A proxy is a host or a private range, never a tenth of the Internet: an IPv4 range wider
    // than /8 (10.0.0.0/8) or an IPv6 one wider than /7 (fc00::/7) is refused (two halves can cover everything), and so
    // is an IPv4-mapped IPv6 range (::ffff:0:0/96 is every IPv4 address) and a zone id.
    const widest = family === 4 ? 8 : 7
    if (bits !== undefined && bits < widest) throw new ConfigError('TRUST_PROXY', trustsAll)
    if (family === 6 && (/^::ffff:/i.test(address) || address.includes('%'))) {
      throw new ConfigError('TRUST_PROXY', `${TRUST_PROXY_EXPECTED}; write an IPv4 proxy as IPv4 and leave out zone ids (got "${entry}")`)
    }
  }
  return entries
}

const DAY = 86_400
const YEAR = 365 * DAY

function logLevel(env: Env): LogLevel {
  const raw = env.LOG_LEVEL || 'info'
  const level = LOG_LEVELS.find((l) => l === raw)
  if (level === undefined) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got "${raw}")`)
  return level
}

export function loadConfig(env: Env): Config {
  const pkce = env.PKCE_REQUIRED || 'all'
  if (pkce !== 'all' && pkce !== 'public') {
    throw new ConfigError('PKCE_REQUIRED', `must be "all" or "public", got "${pkce}"`)
  }
  const host = env.HOST || '127.0.0.1'
  const port = integer(env, 'PORT', 3000, 0, 65535)
  const config: Config = {
    port,
    host,
    issuer: issuer(env, host, port),
    database: parseDatabaseUrl(env.DATABASE_URL || 'db/latchkey.sqlite'),
    keysDir: env.KEYS_DIR || 'keys',
    defaultAudience: absoluteUri(env, 'DEFAULT_AUDIENCE', 'http://localhost:4000'),
    accessTokenTtlSeconds: integer(env, 'ACCESS_TOKEN_TTL', 3600, 1, DAY),
    refreshTokenTtlSeconds: integer(env, 'REFRESH_TOKEN_TTL', 30 * DAY, 1, 10 * YEAR),
    refreshTokenMaxTtlSeconds: integer(env, 'REFRESH_TOKEN_MAX_TTL', YEAR, 1, 10 * YEAR),
    // OAuth 2.1 §4.1.2: a code lives briefly, ten minutes at most.
    codeTtlSeconds: integer(env, 'CODE_TTL', 60, 1, 600),
    pkceRequired: pkce,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    limitSignInFailuresPerAddress: integer(env, 'LIMIT_SIGNIN_FAILURES_PER_ADDRESS', 100, 1, 1_000_000),
    limitClientAuthFailures: integer(env, 'LIMIT_CLIENT_AUTH_FAILURES', 20, 1, 1_000_000),
    purgeIntervalSeconds: integer(env, 'PURGE_INTERVAL', 600, 0, DAY),
    logLevel: logLevel(env),
  }
  if (config.refreshTokenTtlSeconds > config.refreshTokenMaxTtlSeconds) {
    throw new ConfigError('REFRESH_TOKEN_TTL', 'must not exceed REFRESH_TOKEN_MAX_TTL')
  }
  return config
}
