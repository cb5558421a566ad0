import t from 'tap'
import { ACCESS_TOKEN_ALGS, ConfigError, loadConfig, parseDatabaseUrl, parseTrustProxy } from '../../src/config.js'
import { SIGNING_ALGS } from '../../src/keys/key-file.js'

t.test('defaults match the contract', async (t) => {
  const c = loadConfig({})
  t.same(c, {
    port: 3000,
    host: '127.0.0.1',
    issuer: 'http://localhost:3000',
    database: { kind: 'sqlite', path: 'db/latchkey.sqlite' },
    databasePool: { size: 10, statementTimeoutMs: 5000 },
    keysDir: 'keys',
    defaultAudience: 'http://localhost:4000',
    accessTokenTtlSeconds: 3600,
    refreshTokenTtlSeconds: 2592000,
    refreshTokenMaxTtlSeconds: 31536000,
    codeTtlSeconds: 60,
    pkceRequired: 'all',
    trustProxy: false,
    limitSignInFailuresPerAddress: 100,
    limitClientAuthFailures: 20,
    purgeIntervalSeconds: 600,
    keyPublishDelaySeconds: 600,
    keyRotationDays: 90,
    signingAlg: 'RS256',
    logLevel: 'info',
    adminApi: false,
    brand: { name: 'latchkey', color: '#3451b2', logo: undefined },
    registration: { mode: 'off', scopes: ['openid', 'profile', 'email', 'offline_access'], unusedDays: 30, limitPerAddress: 20 },
    mfaRequired: 'enrolled',
  })
})

t.test('MFA_REQUIRED is off, enrolled or all; anything else stops the start', async (t) => {
  for (const value of ['off', 'enrolled', 'all'] as const) t.equal(loadConfig({ MFA_REQUIRED: value }).mfaRequired, value)
  t.throws(() => loadConfig({ MFA_REQUIRED: 'always' }), /MFA_REQUIRED/)
})

t.test('reads the registration variables', async (t) => {
  const c = loadConfig({ REGISTRATION: 'token', REGISTRATION_SCOPES: ' openid  reports:read openid ', REGISTRATION_UNUSED_DAYS: '7', LIMIT_REGISTRATIONS_PER_ADDRESS: '3' })
  t.same(c.registration, { mode: 'token', scopes: ['openid', 'reports:read'], unusedDays: 7, limitPerAddress: 3 })
  t.equal(loadConfig({ REGISTRATION: 'open' }).registration.mode, 'open')
})

t.test('reads every variable', async (t) => {
  const c = loadConfig({
    PORT: '8080',
    HOST: '0.0.0.0',
    ISSUER: 'https://auth.example.com',
    DATABASE_URL: 'postgres://u@db:5432/x',
    KEYS_DIR: '/etc/latchkey/keys',
    DEFAULT_AUDIENCE: 'https://api.example.com',
    ACCESS_TOKEN_TTL: '600',
    REFRESH_TOKEN_TTL: '86400',
    REFRESH_TOKEN_MAX_TTL: '864000',
    CODE_TTL: '30',
    PKCE_REQUIRED: 'public',
    TRUST_PROXY: '10.0.0.0/8, 192.0.2.7',
    LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '500',
    LIMIT_CLIENT_AUTH_FAILURES: '5',
    PURGE_INTERVAL: '60',
    KEY_PUBLISH_DELAY: '1200',
    KEY_ROTATION_DAYS: '0',
    LOG_LEVEL: 'warn',
    ADMIN_API: 'on',
    DB_POOL_SIZE: '25',
    DB_STATEMENT_TIMEOUT_MS: '2000',
  })
  t.same(c.databasePool, { size: 25, statementTimeoutMs: 2000 })
  t.equal(c.keyPublishDelaySeconds, 1200)
  t.equal(c.keyRotationDays, 0, '0 = off')
  t.equal(c.port, 8080)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.issuer, 'https://auth.example.com')
  t.same(c.database, { kind: 'postgres', url: 'postgres://u@db:5432/x' })
  t.equal(c.keysDir, '/etc/latchkey/keys')
  t.equal(c.defaultAudience, 'https://api.example.com')
  t.equal(c.accessTokenTtlSeconds, 600)
  t.equal(c.refreshTokenTtlSeconds, 86400)
  t.equal(c.refreshTokenMaxTtlSeconds, 864000)
  t.equal(c.codeTtlSeconds, 30)
  t.equal(c.pkceRequired, 'public')
  t.same(c.trustProxy, ['10.0.0.0/8', '192.0.2.7'])
  t.equal(c.limitSignInFailuresPerAddress, 500)
  t.equal(c.limitClientAuthFailures, 5)
  t.equal(c.purgeIntervalSeconds, 60)
  t.equal(c.logLevel, 'warn')
  t.equal(c.adminApi, true)
})

t.test('accepts loopback http issuers and https anywhere', async (t) => {
  for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000', 'https://auth.example.com', 'https://auth.example.com:8443']) {
    t.equal(loadConfig({ ISSUER: issuer }).issuer, issuer)
  }
})

t.test('the default ISSUER follows PORT, on localhost', async (t) => {
  t.equal(loadConfig({ PORT: '8080' }).issuer, 'http://localhost:8080')
  t.equal(loadConfig({ PORT: '3001', ISSUER: 'http://127.0.0.1:3001' }).issuer, 'http://127.0.0.1:3001', 'ISSUER, when set, wins')
})

t.test('a loopback HOST needs no ISSUER; any other HOST does', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
    t.equal(loadConfig({ HOST: host, PORT: '4100' }).issuer, 'http://localhost:4100', host)
  }
  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'auth.internal']) {
    t.throws(() => loadConfig({ HOST: host }), { name: 'ConfigError', message: new RegExp(`^ISSUER must be set when HOST is not a loopback address \\(HOST=${host.replace(/\./g, '\\.')}\\)`) }, host)
    t.equal(loadConfig({ HOST: host, ISSUER: 'https://auth.example.com' }).issuer, 'https://auth.example.com', `${host} with ISSUER`)
  }
})

const bad: Array<[Record<string, string>, string, RegExp]> = [
  [{ ADMIN_API: 'true' }, 'ADMIN_API', /"on" or "off"/],
  [{ REGISTRATION: 'on' }, 'REGISTRATION', /off, open, token/],
  [{ REGISTRATION_SCOPES: 'openid latchkey:admin' }, 'REGISTRATION_SCOPES', /latchkey:admin/],
  [{ REGISTRATION_SCOPES: 'open"id' }, 'REGISTRATION_SCOPES', /space-separated/],
  [{ REGISTRATION_SCOPES: '   ' }, 'REGISTRATION_SCOPES', /space-separated/],
  [{ REGISTRATION_UNUSED_DAYS: '1' }, 'REGISTRATION_UNUSED_DAYS', /from 2/],
  [{ LIMIT_REGISTRATIONS_PER_ADDRESS: '0' }, 'LIMIT_REGISTRATIONS_PER_ADDRESS', /from 1/],
  [{ PORT: 'abc' }, 'PORT', /integer/],
  [{ PORT: '70000' }, 'PORT', /0 to 65535/],
  [{ PORT: '-1' }, 'PORT', /integer/],
  [{ ISSUER: 'https://auth.example.com/oauth' }, 'ISSUER', /no path/],
  [{ ISSUER: 'https://auth.example.com/' }, 'ISSUER', /trailing slash/],
  [{ ISSUER: 'https://auth.example.com?x=1' }, 'ISSUER', /origin/],
  [{ ISSUER: 'https://auth.example.com#f' }, 'ISSUER', /origin/],
  [{ ISSUER: 'http://auth.example.com' }, 'ISSUER', /https/],
  [{ ISSUER: 'not a url' }, 'ISSUER', /origin/],
  [{ ISSUER: 'ftp://auth.example.com' }, 'ISSUER', /origin/],
  [{ DATABASE_URL: 'mysql://db/x' }, 'DATABASE_URL', /mysql/],
  [{ DATABASE_URL: 'sqlite:' }, 'DATABASE_URL', /file/],
  [{ DATABASE_URL: 'postgres://[bad' }, 'DATABASE_URL', /postgres/],
  [{ ACCESS_TOKEN_TTL: '-5' }, 'ACCESS_TOKEN_TTL', /integer/],
  [{ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL', /from 1/],
  [{ ACCESS_TOKEN_TTL: '1.5' }, 'ACCESS_TOKEN_TTL', /integer/],
  [{ REFRESH_TOKEN_TTL: '-1' }, 'REFRESH_TOKEN_TTL', /integer/],
  [{ REFRESH_TOKEN_MAX_TTL: 'year' }, 'REFRESH_TOKEN_MAX_TTL', /integer/],
  [{ REFRESH_TOKEN_TTL: '100', REFRESH_TOKEN_MAX_TTL: '50' }, 'REFRESH_TOKEN_TTL', /MAX_TTL/],
  [{ CODE_TTL: '601' }, 'CODE_TTL', /1 to 600/],
  [{ PKCE_REQUIRED: 'none' }, 'PKCE_REQUIRED', /"all" or "public"/],
  [{ DEFAULT_AUDIENCE: 'api' }, 'DEFAULT_AUDIENCE', /absolute URI/],
  [{ DEFAULT_AUDIENCE: 'https://api.example.com/#x' }, 'DEFAULT_AUDIENCE', /fragment/],
  [{ LIMIT_SIGNIN_FAILURES_PER_ADDRESS: '0' }, 'LIMIT_SIGNIN_FAILURES_PER_ADDRESS', /from 1/],
  [{ LIMIT_SIGNIN_FAILURES_PER_ADDRESS: 'many' }, 'LIMIT_SIGNIN_FAILURES_PER_ADDRESS', /integer/],
  [{ LIMIT_CLIENT_AUTH_FAILURES: '0' }, 'LIMIT_CLIENT_AUTH_FAILURES', /from 1/],
  [{ LIMIT_CLIENT_AUTH_FAILURES: '-3' }, 'LIMIT_CLIENT_AUTH_FAILURES', /integer/],
  // Trusting every hop would let anyone forge X-Forwarded-For past the per-address limits.
  [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: 'TRUE' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: 'all' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: 'on' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '*' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '0.0.0.0/0' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '10.0.0.1, ::/0' }, 'TRUST_PROXY', /must not trust every hop/],
  // Ranges that trust (nearly) everyone in other words.
  [{ TRUST_PROXY: '0.0.0.0/1,128.0.0.0/1' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '10.0.0.0/7' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '2000::/3' }, 'TRUST_PROXY', /must not trust every hop/],
  [{ TRUST_PROXY: '::ffff:0:0/96' }, 'TRUST_PROXY', /write an IPv4 proxy as IPv4/],
  [{ TRUST_PROXY: '::ffff:0.0.0.0/96' }, 'TRUST_PROXY', /write an IPv4 proxy as IPv4/],
  [{ TRUST_PROXY: 'fe80::1%eth0' }, 'TRUST_PROXY', /zone ids|CIDRs/],
  [{ TRUST_PROXY: '0' }, 'TRUST_PROXY', /hop count from 1 to 10/],
  [{ TRUST_PROXY: '11' }, 'TRUST_PROXY', /hop count from 1 to 10/],
  [{ TRUST_PROXY: 'false' }, 'TRUST_PROXY', /"off", a hop count/],
  [{ TRUST_PROXY: 'proxy.internal' }, 'TRUST_PROXY', /addresses or CIDRs \(got "proxy.internal"\)/],
  [{ TRUST_PROXY: '10.0.0.1,' }, 'TRUST_PROXY', /got ""/],
  [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY', /got "10.0.0.0\/33"/],
  [{ TRUST_PROXY: '10.0.0.0/8/1' }, 'TRUST_PROXY', /CIDRs/],
  [{ TRUST_PROXY: '10.0.0.0/x' }, 'TRUST_PROXY', /CIDRs/],
  [{ TRUST_PROXY: 'fd00::/129' }, 'TRUST_PROXY', /CIDRs/],
  [{ PURGE_INTERVAL: '-1' }, 'PURGE_INTERVAL', /integer/],
  [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /one of trace, debug, info, warn, error, fatal, silent/],
  [{ LOG_LEVEL: 'INFO' }, 'LOG_LEVEL', /got "INFO"/],
  [{ PURGE_INTERVAL: '86401' }, 'PURGE_INTERVAL', /0 to 86400/],
  [{ PURGE_INTERVAL: 'hourly' }, 'PURGE_INTERVAL', /integer/],
  [{ KEY_PUBLISH_DELAY: '-5' }, 'KEY_PUBLISH_DELAY', /integer/],
  [{ KEY_PUBLISH_DELAY: '2592001' }, 'KEY_PUBLISH_DELAY', /0 to 2592000/],
  [{ KEY_ROTATION_DAYS: '3651' }, 'KEY_ROTATION_DAYS', /0 to 3650/],
  [{ KEY_ROTATION_DAYS: 'quarterly' }, 'KEY_ROTATION_DAYS', /integer/],
  [{ SIGNING_ALG: 'HS256' }, 'SIGNING_ALG', /must be one of RS256, ES256, EdDSA \(got "HS256"\)/],
  [{ SIGNING_ALG: 'none' }, 'SIGNING_ALG', /got "none"/],
  [{ SIGNING_ALG: 'es256' }, 'SIGNING_ALG', /got "es256"/],
  [{ SIGNING_ALG: 'PS256' }, 'SIGNING_ALG', /RS256, ES256, EdDSA/],
  [{ SIGNING_ALG: 'Ed25519' }, 'SIGNING_ALG', /got "Ed25519"/],
  [{ DB_POOL_SIZE: '0' }, 'DB_POOL_SIZE', /1 to 100/],
  [{ DB_POOL_SIZE: '101' }, 'DB_POOL_SIZE', /1 to 100/],
  [{ DB_POOL_SIZE: 'ten' }, 'DB_POOL_SIZE', /integer/],
  // A query that hangs must be cut off: there is no "off".
  [{ DB_STATEMENT_TIMEOUT_MS: '0' }, 'DB_STATEMENT_TIMEOUT_MS', /cannot be 0.*cut off/],
  [{ DB_STATEMENT_TIMEOUT_MS: '999' }, 'DB_STATEMENT_TIMEOUT_MS', /1000 to 600000/],
  [{ DB_STATEMENT_TIMEOUT_MS: '600001' }, 'DB_STATEMENT_TIMEOUT_MS', /1000 to 600000/],
  [{ DB_STATEMENT_TIMEOUT_MS: '5s' }, 'DB_STATEMENT_TIMEOUT_MS', /integer/],
]

for (const [env, variable, expected] of bad) {
  t.test(`refuses ${JSON.stringify(env)} naming ${variable}`, async (t) => {
    const error = t.throws(() => loadConfig(env)) as Error
    t.type(error, ConfigError)
    t.ok(error.message.startsWith(`${variable} `), error.message)
    t.match(error.message, expected)
    t.notMatch(error.message, /\n/, 'one line')
  })
}

t.test('SIGNING_ALG: RS256 by default, ES256 or EdDSA; the same list the key files allow', async (t) => {
  t.equal(loadConfig({ SIGNING_ALG: '' }).signingAlg, 'RS256', 'empty is unset')
  t.equal(loadConfig({ SIGNING_ALG: 'RS256' }).signingAlg, 'RS256')
  t.equal(loadConfig({ SIGNING_ALG: 'ES256' }).signingAlg, 'ES256')
  t.equal(loadConfig({ SIGNING_ALG: 'EdDSA' }).signingAlg, 'EdDSA')
  t.same([...ACCESS_TOKEN_ALGS], [...SIGNING_ALGS], 'config and keys/ agree on the algorithms')
})

t.test('PURGE_INTERVAL=0 leaves purging to the command', async (t) => {
  t.equal(loadConfig({ PURGE_INTERVAL: '0' }).purgeIntervalSeconds, 0)
})

t.test('parses DATABASE_URL forms', async (t) => {
  t.same(parseDatabaseUrl('db/x.sqlite'), { kind: 'sqlite', path: 'db/x.sqlite' })
  t.same(parseDatabaseUrl('/abs/x.sqlite'), { kind: 'sqlite', path: '/abs/x.sqlite' })
  t.same(parseDatabaseUrl('sqlite:/tmp/x.db'), { kind: 'sqlite', path: '/tmp/x.db' })
  t.same(parseDatabaseUrl('sqlite::memory:'), { kind: 'sqlite', path: ':memory:' })
  t.same(parseDatabaseUrl('postgresql://h/d'), { kind: 'postgres', url: 'postgresql://h/d' })
})

t.test('does not echo a PostgreSQL URL that may hold a password', async (t) => {
  const error = t.throws(() => parseDatabaseUrl('postgres://user:secret@[bad')) as Error
  t.notMatch(error.message, /secret/)
})

t.test('parses TRUST_PROXY: off, a hop count, or proxies by address or CIDR', async (t) => {
  for (const off of [undefined, '', 'off', 'OFF', ' off ']) t.equal(parseTrustProxy(off), false, JSON.stringify(off))
  t.equal(parseTrustProxy('1'), 1)
  t.equal(parseTrustProxy('10'), 10)
  t.same(parseTrustProxy('127.0.0.1'), ['127.0.0.1'])
  t.same(parseTrustProxy('10.0.0.0/8,fd00::/8 , ::1'), ['10.0.0.0/8', 'fd00::/8', '::1'])
  t.same(parseTrustProxy('192.0.2.0/32'), ['192.0.2.0/32'])
})
