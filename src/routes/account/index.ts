import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { ACR_MFA, ACR_PWD, meetsAcr, type Acr } from '../../oauth/auth-methods.js'
import type { SignInChecker } from '../../accounts/credentials.js'
import type { SignInLimits } from '../../accounts/second-factor-check.js'
import type { SecondFactors } from '../../accounts/second-factors.js'
import { NO_AUDIT, type AuditLog } from '../../audit.js'
import { accountSignIns, type OpenAccountSignIn } from '../../authorization/account-sign-ins.js'
import type { Authorization } from '../../authorization/index.js'
import { TooManyTransactionsError } from '../../authorization/transactions.js'
import type { Clock } from '../../clock.js'
import type { Config } from '../../config.js'
import { Params } from '../../oauth/params.js'
import type { PageMessage } from '../../pages/i18n.js'
import { setPageHeaders, type Pages } from '../../pages/pages.js'
import type { Database } from '../../storage/database.js'
import type { LoginSession } from '../../storage/login-sessions.js'
import type { Repositories } from '../../storage/repositories.js'
import { browserCookies } from '../browser-cookies.js'
import { secondStep, type SignInFlow } from '../sign-in/second-step.js'
import { accountCsrfToken, manageRoutes } from './manage.js'
import { passkeySection } from './passkeys.js'
import type { PasskeyService } from '../../accounts/passkeys.js'
import { passkeyRoutes, passkeySteps } from '../authorize/passkey.js'

/** Managing second factors is sensitive: the sign-in must be this recent. */
export const ACCOUNT_SIGN_IN_MAX_AGE_MS = 15 * 60_000

export interface AccountRouteOptions {
  config: Config
  repos: Repositories
  clock: Clock
  pages: Pages
  auth: Authorization
  signIns: SignInChecker
  /** The request's authenticator apps and recovery codes (they record their own audit events). */
  secondFactorsFor: (audit: AuditLog) => SecondFactors
  signInLimits: SignInLimits
  /** For the list of passkeys (the passkeys table). */
  db: Kysely<Database>
  maxOpenPerAddress?: number | undefined
  /** Passkeys: sign-in with one alone, as the second factor, or enrolled in the sign-in. */
  passkeys: PasskeyService
}

/** The context the account routes share. */
export interface AccountContext extends AccountRouteOptions {
  cookies: ReturnType<typeof browserCookies>
  /** Whether a login session may manage the account: recent, and of the class the account needs. */
  suitable(session: LoginSession): Promise<boolean>
  renderAccount(reply: FastifyReply, view: { session: LoginSession; sessionId: string; notice?: PageMessage; error?: PageMessage }, status?: number): Promise<FastifyReply>
  routeConfig: { errorFormat: 'authorize' }
}

/** What a page names as a notice after a redirect (only these; the query never carries text). */
const NOTICES: Record<string, PageMessage> = {
  totp_removed: { key: 'account.notice.totp_removed' },
}

/**
 * /account/security: a signed-in person's own second factors. Without a suitable session (one
 * signed in within 15 minutes, with a second factor when the account has one or MFA_REQUIRED=all)
 * the page opens an account sign-in: the login page posting to /account/login, then the second
 * factor (or enrolment) as at /authorize, then a 303 back to the page.
 */
export const accountRoute: FastifyPluginAsync<AccountRouteOptions> = async (app, options) => {
  const { config, repos, clock, pages, auth, secondFactorsFor } = options
  // Reads only: no audit events come from them.
  const factorsReadOnly = secondFactorsFor(NO_AUDIT)
  const cookies = browserCookies({ issuer: config.issuer })
  const flows = accountSignIns({ signIns: repos.accountSignIns, clock, maxOpenPerAddress: options.maxOpenPerAddress })
  const step = secondStep({ pages, secondFactorsFor, limits: options.signInLimits, users: repos.users })
  const routeConfig = { errorFormat: 'authorize' as const }
  app.addHook('onRequest', async (_request, reply) => setPageHeaders(reply))

  const requiredFor = async (userId: string): Promise<Acr> => (config.mfaRequired === 'all' || (await factorsReadOnly.hasFactor(userId)) ? ACR_MFA : ACR_PWD)

  const ctx: AccountContext = {
    ...options,
    cookies,
    routeConfig,
    async suitable(session) {
      return clock.now() - session.authTime <= ACCOUNT_SIGN_IN_MAX_AGE_MS && meetsAcr(session.amr, await requiredFor(session.userId))
    },
    async renderAccount(reply, { session, sessionId, notice, error }, status = 200) {
      const [user, factors, passkeys] = await Promise.all([
        repos.users.findById(session.userId),
        factorsReadOnly.status(session.userId),
        passkeySection(repos, session.userId),
      ])
      return pages.render(
        reply,
        'account-security',
        {
          username: user?.username ?? '',
          factors,
          hasFactor: factors.totp || factors.passkeys > 0,
          passkeys,
          csrfToken: accountCsrfToken(sessionId),
          notice,
          error,
        },
        { status },
      )
    },
  }

  const renderLogin = (reply: FastifyReply, open: OpenAccountSignIn, extra: { error?: PageMessage; username?: string } = {}, status = 200) =>
    pages.render(
      reply,
      'login',
      { action: '/account/login', hidden: fields(open), error: extra.error, username: extra.username ?? '', passkeyAction: '/account/passkey' },
      { status, locale: open.signIn.uiLocale },
    )

  const fields = (open: OpenAccountSignIn) => [
    { name: 'sign_in', value: open.signIn.id },
    { name: 'csrf_token', value: open.csrfToken },
  ]

  const flowOf = (open: OpenAccountSignIn): SignInFlow => {
    const { signIn } = open
    const hidden = fields(open)
    return {
      base: '/account',
      hidden,
      locale: signIn.uiLocale,
      pending: signIn.pendingUserId !== null && signIn.pendingAmr !== null ? { userId: signIn.pendingUserId, amr: signIn.pendingAmr } : null,
      setPending: (pending) => flows.setPending(signIn.id, pending),
      async signIn(request, reply, userId, amr) {
        const started = await auth.sessions.start(userId, cookies.sessionId(request), amr)
        if (!started) return false
        cookies.setSession(reply, started.sessionId)
        await flows.complete(signIn.id)
        return true
      },
      proceed: async (_request, reply) => reply.redirect('/account/security', 303),
      next: { method: 'get', action: '/account/security', hidden: [] },
      renderLogin: (reply, extra, status) => renderLogin(reply, open, extra, status),
    }
  }

  const load = async (request: FastifyRequest) => {
    const params = new Params(request.body)
    const csrfToken = params.get('csrf_token')
    const signIn = await flows.load({ transactionId: params.get('sign_in'), csrfToken, browserId: cookies.existingBrowserId(request) })
    // load() refuses a form without a matching token, so it is there.
    return { params, open: { signIn, csrfToken: csrfToken as string } }
  }

  app.get('/account/security', { config: routeConfig }, async (request, reply) => {
    const sessionId = cookies.sessionId(request)
    const session = await auth.sessions.find(sessionId)
    if (session && sessionId && (await ctx.suitable(session))) {
      const notice = NOTICES[new Params(request.query).get('notice') ?? '']
      return ctx.renderAccount(reply, { session, sessionId, notice })
    }
    const open = await flows
      .start({ browserId: cookies.browserId(request, reply), clientAddress: request.ip, uiLocale: pages.pickUiLocale(new Params(request.query).get('ui_locales')) })
      .catch((error: unknown) => {
        if (error instanceof TooManyTransactionsError) {
          request.audit.record({ event: 'authorize_throttled', limit: 'open_transactions', retryAfterSeconds: error.retryAfterSeconds ?? 0 })
        }
        throw error
      })
    // Signed in, but too long ago or with too weak a sign-in: the same person, asked again.
    const username = session ? ((await repos.users.findById(session.userId))?.username ?? '') : ''
    return renderLogin(reply, open, { username })
  })

  app.post('/account/login', { config: routeConfig }, async (request, reply) => {
    const { params, open } = await load(request)
    const username = params.get('username') ?? ''
    const checked = await options.signIns.check({ username, password: params.get('password') ?? '', ip: request.ip, via: 'login_page' }, request.audit)
    if (checked.outcome === 'throttled') {
      reply.header('retry-after', String(checked.retryAfterSeconds))
      return renderLogin(reply, open, { error: { key: 'login.error.throttled' }, username }, 429)
    }
    if (checked.outcome === 'addressLimited') {
      reply.header('retry-after', String(checked.retryAfterSeconds))
      const wait = { seconds: Math.ceil(checked.retryAfterSeconds / 60) * 60 }
      return renderLogin(reply, open, { error: { key: 'login.error.addressLimited', values: { wait } }, username }, 429)
    }
    if (checked.outcome === 'wrong') return renderLogin(reply, open, { error: { key: 'login.error.wrong' }, username }, 401)
    return step.afterPassword(request, reply, flowOf(open), checked.user, await requiredFor(checked.user.id))
  })

  app.post('/account/second-factor', { config: routeConfig }, async (request, reply) => {
    const { params, open } = await load(request)
    return step.secondFactor(request, reply, flowOf(open), params)
  })

  app.post('/account/enrol', { config: routeConfig }, async (request, reply) => {
    const { params, open } = await load(request)
    return step.enrol(request, reply, flowOf(open), params)
  })

  // Passkeys in the account sign-in, as at /authorize; the challenge on the account sign-in's row.
  passkeyRoutes(app, {
    base: '/account',
    steps: passkeySteps(options.passkeys, { users: repos.users, factors: repos.factorPresence }),
    routeConfig,
    async flowOf(request) {
      const { open } = await load(request)
      const id = open.signIn.id
      const flow = flowOf(open)
      const pendingUserId = open.signIn.pendingUserId
      return {
        ...flow,
        challenge: { set: (c) => repos.accountSignIns.setPasskeyChallenge(id, c), take: () => repos.accountSignIns.takePasskeyChallenge(id) },
        renderSecondFactor: async (reply, extra, status) =>
          pendingUserId === null ? renderLogin(reply, open, extra, status) : step.renderSecondFactor(reply, flow, pendingUserId, extra, status),
      }
    },
  })

  manageRoutes(app, ctx, step)
}
