import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { checkCredentials } from '../../accounts/credentials.js'
import { loginThrottle } from '../../accounts/login-throttle.js'
import type { PasswordHasher } from '../../accounts/passwords.js'
import type { Clock } from '../../clock.js'
import type { Config } from '../../config.js'
import { redirectStatus } from '../../error-handler.js'
import { AuthorizationRedirectError, OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../../oauth/secrets.js'
import type { AuthorizationTransaction } from '../../storage/authorization-transactions.js'
import type { Client } from '../../storage/clients.js'
import type { Repositories } from '../../storage/repositories.js'
import type { IdTokenHintVerifier } from '../../tokens/id-token-hint.js'
import { browserCookies, cookieOptions as browserCookieOptions, redirectPostToGet, SESSION_COOKIE, SESSION_TTL_MS } from '../browser-cookies.js'
import { perMinute } from '../route-rules.js'
import { setPageHeaders, type Pages } from '../../pages/pages.js'
import { parseAuthorizationRequest } from './request.js'

export interface AuthorizeRouteOptions {
  config: Config
  repos: Repositories
  clock: Clock
  pages: Pages
  /** Reads id_token_hint (built once in app.ts). */
  hints: IdTokenHintVerifier
  passwords: PasswordHasher
  /** Login attempts per minute per IP; undefined means no limit. */
  loginPerMinute?: number | undefined
}

const TRANSACTION_TTL_MS = 10 * 60 * 1000

/** OAuth 2.1 §7.3.1: only a client that can be identified may skip a repeated consent. */
function consentCanBeRemembered(client: Client, redirectUri: string): boolean {
  return !client.isPublic || redirectUri.startsWith('https://')
}

export const authorizeRoute: FastifyPluginAsync<AuthorizeRouteOptions> = async (app, { config, repos, clock, pages, hints, passwords, loginPerMinute }) => {
  const cookieOptions = browserCookieOptions(config.issuer)
  const browser = browserCookies({ issuer: config.issuer, sessions: repos.sessions, clock })
  const sessionOf = (request: FastifyRequest) => browser.session(request)
  const routeConfig = { errorFormat: 'authorize' as const }
  const throttle = loginThrottle({ attempts: repos.loginAttempts, clock })
  // Every page, error page and redirect of the authorization endpoint.
  app.addHook('onRequest', async (_request, reply) => setPageHeaders(reply))

  /** The transaction a form names, if this browser started it and the CSRF token matches. */
  async function loadTransaction(request: FastifyRequest, params: Params): Promise<{ tx: AuthorizationTransaction; csrfToken: string }> {
    const id = params.get('transaction')
    const csrfToken = params.get('csrf_token')
    const browserId = browser.existingBrowserId(request)
    const tx = id === undefined ? undefined : await repos.transactions.findById(id)
    const bound =
      tx !== undefined &&
      csrfToken !== undefined &&
      browserId !== undefined &&
      secretMatchesHash(browserId, tx.browserHash) &&
      secretMatchesHash(csrfToken, tx.csrfHash)
    if (!bound) {
      throw new OAuthError('invalid_request', 'this form was not sent from the browser that started the request', { status: 403 })
    }
    if (tx.expiresAt <= clock.now()) {
      throw new OAuthError('invalid_request', 'this sign-in request has expired')
    }
    if (tx.completedAt !== null) throw new OAuthError('invalid_request', 'this sign-in request has already been completed')
    return { tx, csrfToken }
  }

  async function findClient(clientId: string): Promise<Client> {
    const client = await repos.clients.findById(clientId)
    if (!client) throw new OAuthError('invalid_request', 'unknown client')
    return client
  }

  async function needsConsent(
    client: Client,
    target: { redirectUri: string; userId: string; scopes: readonly string[]; forceConsent: boolean },
  ): Promise<boolean> {
    if (target.forceConsent || !consentCanBeRemembered(client, target.redirectUri)) return true
    const consent = await repos.consents.find(client.id, target.userId)
    return !consent || !target.scopes.every((scope) => consent.scopes.includes(scope))
  }

  /** Issues the code and sends the browser back to the client (RFC 9207: with `iss`). */
  async function redirectWithCode(
    request: FastifyRequest,
    reply: FastifyReply,
    grant: Omit<AuthorizationTransaction, 'id' | 'browserHash' | 'csrfHash' | 'forceConsent' | 'createdAt' | 'expiresAt' | 'completedAt' | 'userId' | 'authTime' | 'loginHint' | 'maxAge'> & {
      userId: string
      authTime: number
    },
  ): Promise<FastifyReply> {
    const code = randomToken(32)
    const now = clock.now()
    await repos.codes.create({
      id: randomUUID(),
      codeHash: sha256Hex(code),
      clientId: grant.clientId,
      userId: grant.userId,
      redirectUri: grant.redirectUri,
      scopes: grant.scopes,
      resource: grant.resource,
      codeChallenge: grant.codeChallenge,
      codeChallengeMethod: grant.codeChallengeMethod,
      authTime: grant.authTime,
      createdAt: now,
      expiresAt: now + config.codeTtlSeconds * 1000,
      usedAt: null,
      familyId: null,
      nonce: grant.nonce,
    })
    const url = new URL(grant.redirectUri)
    url.searchParams.set('code', code)
    if (grant.state !== null) url.searchParams.set('state', grant.state)
    url.searchParams.set('iss', config.issuer)
    return reply.redirect(url.href, redirectStatus(request))
  }

  function renderLogin(reply: FastifyReply, view: { tx: AuthorizationTransaction; csrfToken: string; client: Client }, extra: { error?: string; username?: string } = {}, status = 200) {
    return pages.render(
      reply,
      'login',
      { clientName: view.client.name, transaction: view.tx.id, csrfToken: view.csrfToken, error: extra.error, username: extra.username ?? view.tx.loginHint ?? '' },
      status,
    )
  }

  /** After sign-in: the consent page, or the code when a remembered consent covers the request. */
  async function continueSignedIn(
    request: FastifyRequest,
    reply: FastifyReply,
    view: { tx: AuthorizationTransaction & { userId: string; authTime: number }; csrfToken: string; client: Client },
  ): Promise<FastifyReply> {
    const { tx, client } = view
    if (!(await needsConsent(client, tx))) {
      if (!(await repos.transactions.complete(tx.id, clock.now()))) {
        throw new OAuthError('invalid_request', 'this sign-in request has already been completed')
      }
      return redirectWithCode(request, reply, tx)
    }
    const user = await repos.users.findById(tx.userId)
    const scopes = await repos.scopes.findByNames(tx.scopes)
    return pages.render(reply, 'consent', {
      clientName: client.name,
      username: user?.username ?? '',
      scopes: tx.scopes.map((name) => scopes.find((s) => s.name === name) ?? { name, description: '' }),
      transaction: tx.id,
      csrfToken: view.csrfToken,
    })
  }

  app.get('/authorize', { config: routeConfig }, async (request, reply) => {
    const params = new Params(request.query)
    const req = await parseAuthorizationRequest({ clients: repos.clients, scopes: repos.scopes, config }, params)
    const scopes = req.scopes.map((s) => s.name)
    const now = clock.now()
    const found = req.prompt.login ? undefined : await sessionOf(request)
    // OIDC Core §3.1.2.1: a sign-in older than max_age must be repeated, and a session of
    // another user than the id_token_hint names does not count (prompt=none: login_required).
    const hinted = found && req.idTokenHint !== undefined ? await hints.verify(req.idTokenHint) : undefined
    const session =
      found && (req.maxAge === undefined || now - found.authTime <= req.maxAge * 1000) && (hinted === undefined || hinted.subject === found.userId)
        ? found
        : undefined
    const grant = {
      clientId: req.client.id,
      redirectUri: req.redirectUri,
      state: req.state ?? null,
      scopes,
      resource: req.resource,
      codeChallenge: req.pkce?.challenge ?? null,
      codeChallengeMethod: req.pkce?.method ?? null,
      nonce: req.nonce ?? null,
    }
    if (req.prompt.none) {
      // OIDC Core §3.1.2.1: no page at all; say what interaction would be needed.
      const target = { redirectUri: req.redirectUri, state: req.state }
      if (!session) throw new AuthorizationRedirectError('login_required', 'the user is not signed in', target)
      const forceConsent = false
      if (await needsConsent(req.client, { ...grant, userId: session.userId, forceConsent })) {
        throw new AuthorizationRedirectError('consent_required', 'the user has not consented to this request', target)
      }
      return redirectWithCode(request, reply, { ...grant, userId: session.userId, authTime: session.authTime })
    }

    const csrfToken = randomToken(32)
    const tx: AuthorizationTransaction = {
      ...grant,
      id: randomToken(16),
      browserHash: sha256Hex(browser.browserId(request, reply)),
      csrfHash: sha256Hex(csrfToken),
      forceConsent: req.prompt.consent,
      userId: session?.userId ?? null,
      authTime: session?.authTime ?? null,
      createdAt: now,
      expiresAt: now + TRANSACTION_TTL_MS,
      completedAt: null,
      loginHint: req.loginHint ?? null,
      maxAge: req.maxAge ?? null,
    }
    await repos.transactions.create(tx)
    if (tx.userId === null || tx.authTime === null) return renderLogin(reply, { tx, csrfToken, client: req.client })
    return continueSignedIn(request, reply, { tx: { ...tx, userId: tx.userId, authTime: tx.authTime }, csrfToken, client: req.client })
  })

  app.post('/authorize', { config: routeConfig }, async (request, reply) => redirectPostToGet('/authorize', request.body, reply))

  const loginConfig = {
    ...routeConfig,
    rateLimit: perMinute(loginPerMinute),
  }
  app.post('/authorize/login', { config: loginConfig }, async (request, reply) => {
    const params = new Params(request.body)
    const { tx, csrfToken } = await loadTransaction(request, params)
    const client = await findClient(tx.clientId)
    if (params.get('action') === 'switch') {
      await repos.transactions.setUser(tx.id, null)
      return renderLogin(reply, { tx, csrfToken, client })
    }
    const username = params.get('username') ?? ''
    const password = params.get('password') ?? ''
    const checked = await checkCredentials({ users: repos.users, throttle, passwords, log: request.log }, { username, password, ip: request.ip })
    // The transaction stays usable for another try.
    if (checked.outcome === 'throttled') {
      return renderLogin(reply, { tx, csrfToken, client }, { error: 'Too many failed sign-ins; try again in a few minutes.', username }, 429)
    }
    // One message for every failure.
    if (checked.outcome === 'wrong') return renderLogin(reply, { tx, csrfToken, client }, { error: 'Wrong username or password.', username }, 401)
    const { user } = checked
    const now = clock.now()
    const previous = request.cookies[SESSION_COOKIE]
    if (previous) await repos.sessions.delete(sha256Hex(previous))
    const sessionId = randomToken(32)
    await repos.sessions.create({ idHash: sha256Hex(sessionId), userId: user.id, authTime: now, createdAt: now, expiresAt: now + SESSION_TTL_MS })
    reply.setCookie(SESSION_COOKIE, sessionId, { ...cookieOptions, maxAge: SESSION_TTL_MS / 1000 })
    await repos.transactions.setUser(tx.id, { userId: user.id, authTime: now })
    return continueSignedIn(request, reply, { tx: { ...tx, userId: user.id, authTime: now }, csrfToken, client })
  })

  app.post('/authorize/consent', { config: routeConfig }, async (request, reply) => {
    const params = new Params(request.body)
    const { tx, csrfToken } = await loadTransaction(request, params)
    const { userId, authTime } = tx
    if (userId === null || authTime === null) throw new OAuthError('invalid_request', 'sign in first')
    // The sign-in this page was shown for must still be this browser's: not ended by a logout,
    // expired, or replaced by another user's sign-in in another tab.
    const session = await sessionOf(request)
    if (!session || session.userId !== userId) {
      throw new OAuthError('invalid_request', 'you are no longer signed in as the user of this request; start again from the application')
    }
    if (tx.maxAge !== null && clock.now() - authTime > tx.maxAge * 1000) {
      // OIDC Core §3.1.2.1: the application asked for a sign-in no older than max_age.
      await repos.transactions.setUser(tx.id, null)
      const client = await findClient(tx.clientId)
      return renderLogin(reply, { tx, csrfToken, client }, { error: 'Please sign in again.' })
    }
    const decision = params.get('decision')
    if (decision !== 'allow' && decision !== 'deny') throw new OAuthError('invalid_request', 'decision must be allow or deny')
    const client = await findClient(tx.clientId)
    if (!(await repos.transactions.complete(tx.id, clock.now()))) {
      throw new OAuthError('invalid_request', 'this sign-in request has already been completed')
    }
    if (decision === 'deny') {
      throw new AuthorizationRedirectError('access_denied', 'the user denied the request', {
        redirectUri: tx.redirectUri,
        state: tx.state ?? undefined,
      })
    }
    await repos.consents.grant(client.id, userId, tx.scopes, clock.now())
    return redirectWithCode(request, reply, { ...tx, userId, authTime })
  })
}
