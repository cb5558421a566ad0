import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { withSecondFactor } from '../../oauth/auth-methods.js'
import { OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { secretMatchesHash, sha256Hex } from '../../oauth/secrets.js'
import type { LoginSession } from '../../storage/login-sessions.js'
import type { SecondStep } from '../sign-in/second-step.js'
import type { AccountContext } from './index.js'

/**
 * The account page's CSRF token: derived from the login session cookie, which only this browser
 * and latchkey know (the session is also what binds the forms). Only its hash is compared.
 */
export function accountCsrfToken(sessionId: string): string {
  return sha256Hex(`account-csrf:${sessionId}`)
}

/**
 * The forms of /account/security: set up or remove the authenticator app, make new recovery
 * codes. Each needs the page's CSRF token (403 otherwise, nothing changed) and a session still
 * suitable for managing the account (otherwise back to the page, which asks to sign in again).
 */
export function manageRoutes(app: FastifyInstance, ctx: AccountContext, step: SecondStep): void {
  const { auth, cookies, secondFactorsFor, repos, routeConfig } = ctx
  const toPage = (reply: FastifyReply, notice?: string) => reply.redirect(notice ? `/account/security?notice=${notice}` : '/account/security', 303)

  /** The signed-in session the form was posted with; undefined when it is no longer suitable. */
  const signedIn = async (request: FastifyRequest, params: Params): Promise<{ session: LoginSession; sessionId: string } | undefined> => {
    const sessionId = cookies.sessionId(request)
    const presented = params.get('csrf_token')
    // Constant time: the token's hash against the one derived from the cookie.
    if (!sessionId || presented === undefined || !secretMatchesHash(presented, sha256Hex(accountCsrfToken(sessionId)))) {
      throw new OAuthError('invalid_request', 'this form was not sent from the page latchkey showed this browser', { status: 403, reason: 'wrong_browser' })
    }
    const session = await auth.sessions.find(sessionId)
    return session && (await ctx.suitable(session)) ? { session, sessionId } : undefined
  }

  const post = (path: string, handler: (request: FastifyRequest, reply: FastifyReply, input: { params: Params; session: LoginSession; sessionId: string }) => Promise<FastifyReply>) =>
    app.post(path, { config: routeConfig }, async (request, reply) => {
      const params = new Params(request.body)
      const found = await signedIn(request, params)
      if (!found) return toPage(reply)
      return handler(request, reply, { params, ...found })
    })

  const enrolView = (sessionId: string) => ({
    hidden: [{ name: 'csrf_token', value: accountCsrfToken(sessionId) }],
    locale: null,
    confirmAction: '/account/totp/confirm',
    restartAction: '/account/totp/begin',
    required: false,
  })

  post('/account/totp/begin', async (request, reply, { session, sessionId }) => {
    const user = await repos.users.findById(session.userId)
    const enrolment = user && (await secondFactorsFor(request.audit).beginTotp(user.id, user.username))
    if (!enrolment) return toPage(reply)
    return step.renderEnrol(reply, { ...enrolView(sessionId), enrolment })
  })

  post('/account/totp/confirm', async (request, reply, { params, session, sessionId }) => {
    // SecondFactors records mfa_enrolled.
    const confirmed = await secondFactorsFor(request.audit).confirmTotp(session.userId, (params.get('code') ?? '').slice(0, 64))
    if (!confirmed) return step.renderEnrol(reply, { ...enrolView(sessionId), error: { key: 'enrol.error.wrong' } }, 400)
    // The person has just shown a code from the app, within minutes of signing in: the session
    // now counts as a sign-in with two factors (a new one: no fixation).
    const started = await auth.sessions.start(session.userId, sessionId, withSecondFactor(session.amr, 'otp'))
    if (started) cookies.setSession(reply, started.sessionId)
    return step.renderCodes(reply, {
      codes: confirmed.recoveryCodes,
      next: { method: 'get', action: '/account/security', hidden: [] },
      locale: null,
      notice: { key: 'account.notice.totp_enrolled' },
    })
  })

  post('/account/totp/remove', async (request, reply, { session, sessionId }) => {
    const secondFactors = secondFactorsFor(request.audit)
    const factors = await secondFactors.status(session.userId)
    if (!factors.totp) return toPage(reply)
    // MFA_REQUIRED=all: an account may not be left without a second factor.
    if (ctx.config.mfaRequired === 'all' && factors.passkeys === 0) {
      return ctx.renderAccount(reply, { session, sessionId, error: { key: 'account.error.lastFactor' } }, 409)
    }
    // SecondFactors records mfa_removed.
    await secondFactors.removeTotp(session.userId)
    return toPage(reply, 'totp_removed')
  })

  post('/account/recovery-codes', async (request, reply, { session }) => {
    // SecondFactors records recovery_codes_regenerated.
    const codes = await secondFactorsFor(request.audit).regenerateRecoveryCodes(session.userId)
    if (!codes) return toPage(reply)
    // Said plainly: these replace every earlier code, and posting again (a reload) replaces these.
    return step.renderCodes(reply, { codes, next: { method: 'get', action: '/account/security', hidden: [] }, locale: null, notice: { key: 'codes.replaced' } })
  })
}
