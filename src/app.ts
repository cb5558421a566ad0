import cookie from '@fastify/cookie'
import cors, { type FastifyCorsOptionsDelegateCallback } from '@fastify/cors'
import formbody from '@fastify/formbody'
import { createRequire } from 'node:module'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { signInChecker } from './accounts/credentials.js'
import { clientAuthFailureLimit, signInAddressLimit } from './accounts/failure-limits.js'
import { loginThrottle } from './accounts/login-throttle.js'
import { productionPasswords, type PasswordHasher } from './accounts/passwords.js'
import { loggerAudit, type AppAudit, type AuditLog } from './audit.js'
import { authorization } from './authorization/index.js'
import { CONNECTION_LIMITS, serverOptions, type ConnectionLimits } from './http-server.js'
import type { Config, TrustProxy } from './config.js'
import { systemClock, type Clock } from './clock.js'
import { createErrorHandler, sendJsonError } from './error-handler.js'
import { OAuthError } from './errors.js'
import type { GrantDefinition } from './grants/grant.js'
import { deviceCodeDefinition } from './grants/device-code.js'
import { BUILT_IN_GRANTS, grantRegistry } from './grants/index.js'
import type { KeyStore } from './keys/key-store.js'
import type { SecretBox } from './keys/secret-box.js'
import { jwksMaxAgeSeconds } from './keys/key-timeline.js'
import { authorizeRoute } from './routes/authorize/index.js'
import { accountPasskeysRoute } from './routes/account/passkeys.js'
import { passkeyService } from './accounts/passkeys.js'
import { accountRoute } from './routes/account/index.js'
import { secondFactors } from './accounts/totp.js'
import { totpSecretBox } from './keys/totp-key.js'
import { clientAuthenticator } from './routes/client-authentication.js'
import { BROWSER_CLIENT_ENDPOINTS } from './routes/client-cors.js'
import { createPages } from './pages/pages.js'
import { assetsRoute } from './routes/assets.js'
import { deviceAuthorizationRoute } from './routes/device-authorization.js'
import { discoveryRoute } from './routes/discovery.js'
import { healthRoute } from './routes/health.js'
import { introspectRoute } from './routes/introspect.js'
import { jwksRoute } from './routes/jwks.js'
import { logoutRoute } from './routes/logout.js'
import { noStoreByDefault } from './routes/route-rules.js'
import { registerRoute } from './routes/register.js'
import { revokeRoute } from './routes/revoke.js'
import { auditRequests } from './routes/request-audit.js'
import { tokenRoute } from './routes/token.js'
import { userinfoRoute } from './routes/userinfo.js'
import type { Store } from './storage/connect.js'
import { purgeExpired, purgePolicy, schedulePurges } from './storage/purge.js'
import { clientUseRecorder, registrations } from './registration/registrations.js'
import { inTransaction, repositories, type Repositories } from './storage/repositories.js'
import { isDatabaseUnavailable } from './storage/unavailable.js'
import { accessTokenSigner } from './tokens/access-token.js'
import { idTokenHintVerifier } from './tokens/id-token-hint.js'
import { idTokenSigner } from './tokens/id-token.js'
import { accessTokenVerifier } from './tokens/verify-access-token.js'

export interface AppDeps {
  /** Where security events go; by default audit lines through the app's logger, at any LOG_LEVEL. */
  audit?: AppAudit
  store: Store
  keys: KeyStore
  /**
   * Seals authenticator-app secrets at rest (src/accounts/totp.ts): main.ts loads KEYS_DIR/totp.key
   * at start (creating it if missing); tests give a key of their own. Without it,
   * totpSecretBox(config.keysDir) reads that file on first use (it must exist).
   */
  totpSecrets?: SecretBox
  clock?: Clock
  /** Connection timeouts; production values unless a test shortens them. */
  connectionLimits?: ConnectionLimits
  /** How passwords are hashed and checked; the production argon2id costs unless a test swaps them. */
  passwords?: PasswordHasher
  logger?: FastifyServerOptions['logger']
  /** The grants /token serves and discovery advertises; default: the built-in ones. */
  grants?: readonly GrantDefinition[]
  /** Open authorization transactions per client network; MAX_OPEN_TRANSACTIONS_PER_ADDRESS unless a test lowers it. */
  maxOpenTransactionsPerAddress?: number
  /** Live device authorizations per client network; MAX_OPEN_DEVICE_AUTHORIZATIONS_PER_ADDRESS unless a test lowers it. */
  maxOpenDeviceAuthorizationsPerAddress?: number
  /** Wrong user codes per window from all addresses together; MAX_USER_CODE_FAILURES_GLOBAL unless a test lowers it. */
  maxUserCodeFailuresGlobal?: number
}

const PUBLIC_METADATA = new Set(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.well-known/jwks.json'])

/**
 * CORS (RFC 9700 §2.6): discovery and JWKS for anyone; a /token or /revoke preflight for any
 * origin some client registered a redirect URI on (the POST itself is checked against its
 * client in the route); /userinfo for anyone, as it takes a bearer token and never a cookie.
 * Nothing else, and never /authorize or /introspect. In @fastify/cors's callback form: only a
 * preflight waits for the database; every other request is answered at once, without a promise.
 */
function corsPolicy(repos: Repositories): FastifyCorsOptionsDelegateCallback {
  return (request, callback) => {
    const path = request.url.split('?')[0] ?? ''
    if (PUBLIC_METADATA.has(path)) return callback(null, { origin: '*', methods: ['GET'] })
    if (path === '/userinfo') {
      return callback(null, { origin: '*', methods: ['GET', 'POST'], allowedHeaders: ['Authorization', 'Content-Type'], exposedHeaders: ['WWW-Authenticate'], maxAge: 600 })
    }
    const origin = request.headers.origin
    if (BROWSER_CLIENT_ENDPOINTS.has(path) && request.method === 'OPTIONS' && origin) {
      // As in the promise form: a failure of the lookup, or of what the callback goes on to do, goes to the error handler.
      repos.clients
        .isRegisteredOrigin(origin)
        .then((registered) => callback(null, registered ? { origin, methods: ['POST'], allowedHeaders: ['Authorization', 'Content-Type'], maxAge: 600 } : { origin: false }))
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))))
      return
    }
    callback(null, { origin: false })
  }
}

/** Never log secrets: request lines carry no query string (tokens, hints) and no headers. */
function requestLine(req: { method: string; url: string; id: string }) {
  return { id: req.id, method: req.method, path: req.url.split('?')[0] }
}

/**
 * One line per request, written when its answer has been sent: method and path (the `req`
 * serializer below, or a route's own), status and time. fastify's default writes two ("incoming
 * request", then "request completed"); one is half the logging work, and all a log search needs
 * of a request is on one line. Every other line fastify writes is unchanged.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/**
 * fastify builds its schema compilers (ajv for requests, fast-json-stringify for responses) as
 * it starts, whether any route has a schema or not. Only the admin API's routes do, so these
 * load them when the first schema is compiled: a server without ADMIN_API never loads them,
 * which saves some 9 MiB and a good part of the start (ADR 0009). They are fastify's own
 * compilers, with the options it passes (the `ajv` option above included).
 */
function schemaCompilersOnFirstUse() {
  const load = createRequire(import.meta.url)
  type Factory = (...args: unknown[]) => unknown
  let validators: Factory | undefined
  let serializers: Factory | undefined
  return {
    buildValidator: (...args: unknown[]) => (validators ??= (load('@fastify/ajv-compiler') as () => Factory)())(...args),
    buildSerializer: (...args: unknown[]) => (serializers ??= (load('@fastify/fast-json-stringify-compiler') as () => Factory)())(...args),
  } as unknown as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
}

/** Whatever logger the caller configures gets the request serializer above. */
function safeLogger(logger: AppDeps['logger']): FastifyServerOptions['logger'] {
  if (logger === undefined || logger === false) return false
  const options = logger === true ? { level: 'info' } : logger
  return { ...options, serializers: { ...options.serializers, req: requestLine } }
}

/**
 * TRUST_PROXY as fastify takes it: request.ip and request.protocol come from X-Forwarded-For and
 * X-Forwarded-Proto only as far as trusted proxies vouch for them; without it they are ignored.
 */
function trustProxyOption(trust: TrustProxy): FastifyServerOptions['trustProxy'] {
  if (trust === false) return false
  // fastify 5.12 trusts no hop for a bare number; this is proxy-addr's hop-count rule (hop 0 is
  // the socket's peer), which believes whatever the N nearest hops say.
  if (typeof trust === 'number') return (_address: string, hop: number) => hop < trust
  return [...trust]
}

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const passwords = deps.passwords ?? productionPasswords
  const app = Fastify({
    ...serverOptions(deps.connectionLimits ?? CONNECTION_LIMITS),
    logger: safeLogger(deps.logger),
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: 64 * 1024,
    logController: new OneLinePerRequest(),
    // Route schemas (the admin API's) refuse unknown fields rather than drop them: a misspelt
    // field must not pass as a request that changes nothing.
    ajv: { customOptions: { removeAdditional: false } },
    schemaController: { compilersFactory: schemaCompilersOnFirstUse() },
  })
  const repos = repositories(deps.store)
  const pages = createPages({ brand: config.brand })
  app.setErrorHandler(createErrorHandler({ issuer: config.issuer, pages, isUnavailable: isDatabaseUnavailable }))
  // Added before any plugin or route, so every response passes through it: 404s, errors.
  app.addHook('onSend', noStoreByDefault)
  auditRequests(app, deps.audit ?? loggerAudit(app.log))
  app.setNotFoundHandler((_request, reply) => sendJsonError(reply, new OAuthError('invalid_request', 'not found', { status: 404 })))
  await app.register(formbody)
  await app.register(cookie)

  const accessTokens = accessTokenSigner({ keys: deps.keys, clock, issuer: config.issuer, ttlSeconds: config.accessTokenTtlSeconds, alg: config.signingAlg })
  const idTokens = idTokenSigner({ keys: deps.keys, clock, issuer: config.issuer, ttlSeconds: config.accessTokenTtlSeconds })
  const grantDefinitions = deps.grants ?? BUILT_IN_GRANTS
  // One sign-in check for the login page and the password grant: one throttle, one address limit.
  // Second-factor codes count against the same two limits as passwords.
  const signInLimits = {
    throttle: loginThrottle({ attempts: repos.loginAttempts, clock }),
    addressLimit: signInAddressLimit({ counters: repos.failureCounters, clock, maxFailures: config.limitSignInFailuresPerAddress }),
  }
  const signIns = signInChecker({ users: repos.users, ...signInLimits, passwords })
  // Authenticator apps and recovery codes, built per request: their events go to its audit log.
  const totpSecrets = deps.totpSecrets ?? totpSecretBox(config.keysDir)
  const secondFactorsFor = (audit: AuditLog) => secondFactors({ factors: repos.secondFactors, secrets: totpSecrets, clock, issuer: config.brand.name, audit })
  // Passkeys count against the same limits as passwords.
  const passkeys = passkeyService({ issuer: config.issuer, rpName: config.brand.name, passkeys: repos.passkeys, users: repos.users, clock, ...signInLimits })
  const auth = authorization({
    repos,
    clock,
    issuer: config.issuer,
    codeTtlSeconds: config.codeTtlSeconds,
    mfaPolicy: config.mfaRequired,
    maxOpenTransactionsPerAddress: deps.maxOpenTransactionsPerAddress,
    maxOpenDeviceAuthorizationsPerAddress: deps.maxOpenDeviceAuthorizationsPerAddress,
    maxUserCodeFailuresGlobal: deps.maxUserCodeFailuresGlobal,
  })
  // The grants check again that the sign-in behind a code or refresh token is still strong enough.
  const grants = grantRegistry({ config, repos, accessTokens, idTokens, signIns, requirements: auth.requirements, clock }, grantDefinitions)
  // latchkey reading its own tokens back: access tokens at /revoke, /introspect, /userinfo;
  // ID tokens as id_token_hint at /authorize and /logout.
  const verifier = accessTokenVerifier({ keys: deps.keys, clock, issuer: config.issuer, alg: config.signingAlg })
  const hints = idTokenHintVerifier({ keys: deps.keys, clock, issuer: config.issuer })
  // Brute-force protection for client secrets (OAuth 2.1 §2.4.1): failures only, in the database.
  const authenticate = clientAuthenticator({
    clients: repos.clients,
    clock,
    failures: clientAuthFailureLimit({ counters: repos.failureCounters, clock, maxFailures: config.limitClientAuthFailures }),
  })
  // RFC 8628: /device_authorization and /device exist while /token serves the device grant.
  const deviceFlow = grants.has(deviceCodeDefinition.type)
  await app.register(async (api) => {
    await api.register(cors, { delegator: corsPolicy(repos) })
    await api.register(discoveryRoute, { config, grants: grantDefinitions, uiLocales: pages.locales })
    await api.register(jwksRoute, { keys: deps.keys, clock, maxAgeSeconds: jwksMaxAgeSeconds(config.keyPublishDelaySeconds) })
    await api.register(tokenRoute, { authenticate, grants, recordUse: clientUseRecorder({ clients: repos.clients, clock }) })
    if (deviceFlow) {
      await api.register(deviceAuthorizationRoute, { authenticate, devices: auth.devices, scopes: repos.scopes, issuer: config.issuer, defaultAudience: config.defaultAudience })
    }
    await api.register(revokeRoute, { repos, verifier, clock, authenticate })
    await api.register(introspectRoute, { repos, verifier, clock, issuer: config.issuer, authenticate })
    await api.register(userinfoRoute, { repos, verifier })
    if (config.registration.mode !== 'off') {
      const registry = registrations({ repos, transaction: inTransaction(deps.store), clock, issuer: config.issuer, config: config.registration, grants: grantDefinitions })
      await api.register(registerRoute, { registrations: registry, requireInitialAccessToken: config.registration.mode === 'token' })
    }
  })
  await app.register(authorizeRoute, { config, repos, clock, pages, auth, hints, signIns, deviceFlow, secondFactorsFor, signInLimits, passkeys })
  await app.register(accountRoute, { config, repos, clock, pages, auth, signIns, secondFactorsFor, signInLimits, db: deps.store.db, maxOpenPerAddress: deps.maxOpenTransactionsPerAddress, passkeys })
  await app.register(accountPasskeysRoute, { config, repos, clock, pages, auth, passkeys })
  await app.register(logoutRoute, { config, repos, auth, pages, hints })
  await app.register(healthRoute, { store: deps.store })
  await app.register(assetsRoute, { assets: pages.assets })
  if (config.adminApi) {
    // Imported only when enabled: with its OpenAPI generator it is the largest part of the server.
    const { adminApi } = await import('./routes/admin/index.js')
    await app.register(adminApi, { prefix: '/admin/v1', repos, passwords, clock, issuer: config.issuer, verifier, keys: deps.keys })
  }
  if (config.purgeIntervalSeconds > 0) {
    // Expired rows go every PURGE_INTERVAL; `latchkey purge` runs the same rules on demand.
    const purges = schedulePurges({
      intervalMs: config.purgeIntervalSeconds * 1000,
      purge: () => purgeExpired(deps.store.db, purgePolicy(config, clock.now())),
      log: app.log,
    })
    app.addHook('onReady', async () => purges.start())
    app.addHook('onClose', async () => purges.stop())
  }
  return app
}
