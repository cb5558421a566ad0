import { readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { extname } from 'node:path'
import { isResourceUri, RESOURCE_URI_RULE } from './oauth/resource-uri.js'
import { parseScope } from './oauth/scope.js'
import { MFA_POLICIES, type MfaPolicy } from './oauth/auth-methods.js'

export type PkceRequired = 'all' | 'public'

/** REGISTRATION: dynamic client registration (RFC 7591) off, open to anyone, or with an initial access token. */
export const REGISTRATION_MODES = ['off', 'open', 'token'] as const
export type RegistrationMode = (typeof REGISTRATION_MODES)[number]

/** Dynamic client registration (RFC 7591 / 7592). */
export interface RegistrationConfig {
  mode: RegistrationMode
  /** REGISTRATION_SCOPES: what a self-registered client may ask for (never latchkey:admin). */
  scopes: string[]
  /** REGISTRATION_UNUSED_DAYS: a self-registered client no token was issued to for this long is purged. */
  unusedDays: number
  /** LIMIT_REGISTRATIONS_PER_ADDRESS: registration requests per client address per hour. */
  limitPerAddress: number
}

/**
 * SIGNING_ALG: what access tokens are signed with. The same list as keys/key-file.ts's
 * SIGNING_ALGS (config imports nothing from keys/); ID tokens are RS256 whatever it says.
 */
export const ACCESS_TOKEN_ALGS = ['RS256', 'ES256', 'EdDSA'] as const
export type AccessTokenAlg = (typeof ACCESS_TOKEN_ALGS)[number]

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

/** PostgreSQL's connection pool: DB_POOL_SIZE and DB_STATEMENT_TIMEOUT_MS (SQLite has neither). */
export interface DatabasePool {
  /** The most connections one server process opens. */
  size: number
  /**
   * How long a statement may run, and how long a request waits for a connection, before it
   * fails with 503. Never off: a query that hangs must be cut off, not waited for.
   */
  statementTimeoutMs: number
}

/** The image types BRAND_LOGO may be, by file extension. */
export const LOGO_TYPES = {
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
} as const

export type LogoContentType = (typeof LOGO_TYPES)[keyof typeof LOGO_TYPES]

/** The largest BRAND_LOGO accepted: a logo, not a photograph. */
export const MAX_LOGO_BYTES = 256 * 1024

/** BRAND_LOGO, read once at start: latchkey serves it itself, so no page loads a third party. */
export interface BrandLogo {
  contentType: LogoContentType
  data: Buffer
}

/** What every page shows: BRAND_NAME, BRAND_COLOR (`#rrggbb`), BRAND_LOGO. */
export interface Brand {
  name: string
  color: string
  logo: BrandLogo | undefined
}

export const DEFAULT_BRAND_COLOR = '#3451b2'

export interface Config {
  port: number
  host: string
  issuer: string
  database: DatabaseTarget
  databasePool: DatabasePool
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
  /** Seconds a new signing key is published before it signs. */
  keyPublishDelaySeconds: number
  /** Days between scheduled key rotations; 0: only `latchkey keys rotate`. */
  keyRotationDays: number
  /** SIGNING_ALG: the algorithm of access tokens (ID tokens are always RS256). */
  signingAlg: AccessTokenAlg
  /** Request logs; audit events are written whatever it says. */
  logLevel: LogLevel
  /** ADMIN_API=on serves the admin API under /admin/v1. */
  adminApi: boolean
  brand: Brand
  registration: RegistrationConfig
  /** MFA_REQUIRED: off, enrolled (users with a second factor must use it) or all (everyone must enrol). */
  mfaRequired: MfaPolicy
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
  // URL's origin drops the default port (PORT=80 is http://localhost), as the check below expects.
  const raw = env.ISSUER || new URL(`http://localhost:${port}`).origin
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

/**
 * DB_STATEMENT_TIMEOUT_MS. 0 is refused rather than read as "off": during an outage a query
 * with no timeout holds its request and its connection until the operating system gives up on
 * the socket (minutes), and the pool runs dry.
 */
function statementTimeoutMs(env: Env): number {
  if (/^0+$/.test(env.DB_STATEMENT_TIMEOUT_MS ?? '')) {
    throw new ConfigError('DB_STATEMENT_TIMEOUT_MS', 'cannot be 0: there is no "off", a query that hangs must be cut off; give milliseconds from 1000 to 600000')
  }
  return integer(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 1000, 600_000)
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

function signingAlg(env: Env): AccessTokenAlg {
  const raw = env.SIGNING_ALG || 'RS256'
  const alg = ACCESS_TOKEN_ALGS.find((a) => a === raw)
  if (alg === undefined) throw new ConfigError('SIGNING_ALG', `must be one of ${ACCESS_TOKEN_ALGS.join(', ')} (got ${JSON.stringify(raw)})`)
  return alg
}

function onOff(env: Env, name: string): boolean {
  const raw = env[name] || 'off'
  if (raw !== 'on' && raw !== 'off') throw new ConfigError(name, `must be "on" or "off" (got "${raw}")`)
  return raw === 'on'
}

function brandName(env: Env): string {
  const raw = env.BRAND_NAME ?? ''
  if (raw === '') return 'latchkey'
  const name = raw.trim()
  // Shown in every page's header and title: one line of text.
  if (name === '' || name.length > 60 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new ConfigError('BRAND_NAME', `must be one line of 1 to 60 characters (got ${JSON.stringify(raw)})`)
  }
  return name
}

function brandColor(env: Env): string {
  const raw = env.BRAND_COLOR ?? ''
  if (raw === '') return DEFAULT_BRAND_COLOR
  const short = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(raw)
  if (short) return `#${short.slice(1).map((c) => c + c).join('')}`.toLowerCase()
  if (!/^#[0-9a-f]{6}$/i.test(raw)) throw new ConfigError('BRAND_COLOR', `must be a CSS hex colour such as #3451b2 or #35b (got ${JSON.stringify(raw)})`)
  return raw.toLowerCase()
}

/** Whether the bytes are what the extension says: a renamed file of another kind is refused. */
function looksLike(contentType: LogoContentType, data: Buffer): boolean {
  switch (contentType) {
    case 'image/png':
      return data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    case 'image/jpeg':
      return data.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))
    case 'image/webp':
      return data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP'
    case 'image/svg+xml':
      return /^(\ufeff)?\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!doctype svg[^>]*>\s*)?<svg[\s>]/i.test(data.toString('utf8'))
  }
}

/** BRAND_LOGO: a png, svg, jpeg or webp file of at most MAX_LOGO_BYTES, read now. */
function brandLogo(env: Env): BrandLogo | undefined {
  const path = env.BRAND_LOGO ?? ''
  if (path === '') return undefined
  const contentType = LOGO_TYPES[extname(path).toLowerCase() as keyof typeof LOGO_TYPES]
  if (contentType === undefined) {
    throw new ConfigError('BRAND_LOGO', `must be a .png, .svg, .jpg, .jpeg or .webp file (got ${JSON.stringify(path)})`)
  }
  let size: number
  try {
    const stat = statSync(path)
    if (!stat.isFile()) throw new Error('not a file')
    size = stat.size
  } catch {
    throw new ConfigError('BRAND_LOGO', `must name a readable file (got ${JSON.stringify(path)})`)
  }
  if (size === 0 || size > MAX_LOGO_BYTES) {
    throw new ConfigError('BRAND_LOGO', `must be a file of 1 to ${MAX_LOGO_BYTES} bytes (${JSON.stringify(path)} has ${size})`)
  }
  const data = readFileSync(path)
  if (!looksLike(contentType, data)) {
    throw new ConfigError('BRAND_LOGO', `${JSON.stringify(path)} is not a ${extname(path).slice(1).toLowerCase()} image`)
  }
  return { contentType, data }
}

function registrationMode(env: Env): RegistrationMode {
  const raw = env.REGISTRATION || 'off'
  const mode = REGISTRATION_MODES.find((m) => m === raw)
  if (mode === undefined) throw new ConfigError('REGISTRATION', `must be one of ${REGISTRATION_MODES.join(', ')} (got ${JSON.stringify(raw)})`)
  return mode
}

/** MFA_REQUIRED: who must use a second factor at sign-in. */
function mfaPolicy(env: Env): MfaPolicy {
  const raw = env.MFA_REQUIRED || 'enrolled'
  const policy = MFA_POLICIES.find((p) => p === raw)
  if (policy === undefined) throw new ConfigError('MFA_REQUIRED', `must be one of ${MFA_POLICIES.join(', ')} (got ${JSON.stringify(raw)})`)
  return policy
}

/** REGISTRATION_SCOPES: space-separated scope names; the admin API's reserved scope is refused. */
function registrationScopes(env: Env): string[] {
  const raw = env.REGISTRATION_SCOPES ?? ''
  if (raw === '') return ['openid', 'profile', 'email', 'offline_access']
  const scopes = parseScope(raw)
  if (scopes === undefined) throw new ConfigError('REGISTRATION_SCOPES', `must be a space-separated list of scope names (got ${JSON.stringify(raw)})`)
  // The same name as ADMIN_SCOPE (admin/client-rules.ts): only `client add --admin` grants it.
  if (scopes.includes('latchkey:admin')) throw new ConfigError('REGISTRATION_SCOPES', 'must not include latchkey:admin (only client add --admin grants it)')
  return scopes
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
    databasePool: { size: integer(env, 'DB_POOL_SIZE', 10, 1, 100), statementTimeoutMs: statementTimeoutMs(env) },
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
    keyPublishDelaySeconds: integer(env, 'KEY_PUBLISH_DELAY', 600, 0, 30 * DAY),
    keyRotationDays: integer(env, 'KEY_ROTATION_DAYS', 90, 0, 3650),
    signingAlg: signingAlg(env),
    logLevel: logLevel(env),
    adminApi: onOff(env, 'ADMIN_API'),
    brand: { name: brandName(env), color: brandColor(env), logo: brandLogo(env) },
    registration: {
      mode: registrationMode(env),
      scopes: registrationScopes(env),
      // At least 2: past ACCESS_TOKEN_TTL (1 day at most) plus the hour last_used_at may lag,
      // so no access token of a purged client is still valid.
      unusedDays: integer(env, 'REGISTRATION_UNUSED_DAYS', 30, 2, 3650),
      limitPerAddress: integer(env, 'LIMIT_REGISTRATIONS_PER_ADDRESS', 20, 1, 1_000_000),
    },
    mfaRequired: mfaPolicy(env),
  }
  if (config.refreshTokenTtlSeconds > config.refreshTokenMaxTtlSeconds) {
    throw new ConfigError('REFRESH_TOKEN_TTL', 'must not exceed REFRESH_TOKEN_MAX_TTL')
  }
  return config
}
