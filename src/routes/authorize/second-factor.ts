import type { FastifyInstance } from 'fastify'
import { signInIsRecent } from '../../authorization/login-session.js'
import { findClient } from '../../authorization/request.js'
import { signedInTransaction } from '../../authorization/transactions.js'
import { OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { formTransaction, type FormRouteContext } from './form.js'
import { authorizeFlow } from './sign-in-flow.js'

/**
 * The second step of an /authorize sign-in: POST /authorize/second-factor (an app or recovery
 * code), POST /authorize/enrol (a user without a factor sets one up where one is required), and
 * POST /authorize/continue (on from the page showing recovery codes to consent or the code).
 * Each is bound to the transaction and its CSRF token like the login form.
 */
export function secondFactorRoutes(app: FastifyInstance, ctx: FormRouteContext): void {
  const { auth, cookies, steps, repos, clock } = ctx

  const load = async (body: unknown, request: Parameters<typeof formTransaction>[1]) => {
    const params = new Params(body)
    const open = await formTransaction(ctx, request, params)
    const client = await findClient(repos.clients, open.tx.clientId)
    return { params, flow: authorizeFlow(ctx, { ...open, client }), open: { ...open, client } }
  }

  app.post('/authorize/second-factor', { config: ctx.routeConfig }, async (request, reply) => {
    const { params, flow } = await load(request.body, request)
    return ctx.secondStep.secondFactor(request, reply, flow, params)
  })

  app.post('/authorize/enrol', { config: ctx.routeConfig }, async (request, reply) => {
    const { params, flow } = await load(request.body, request)
    return ctx.secondStep.enrol(request, reply, flow, params)
  })

  app.post('/authorize/continue', { config: ctx.routeConfig }, async (request, reply) => {
    const { open } = await load(request.body, request)
    const tx = signedInTransaction(open.tx)
    if (!tx) throw new OAuthError('invalid_request', 'sign in first')
    // Still this browser's sign-in (not ended by a logout or replaced in another tab).
    const session = await auth.sessions.find(cookies.sessionId(request))
    if (!session || session.userId !== tx.userId) {
      throw new OAuthError('invalid_request', 'you are no longer signed in as the user of this request; start again from the application', { reason: 'signed_out' })
    }
    // OIDC Core §3.1.2.1, as on the consent form: the page in between may have been left open
    // past max_age; then the user signs in again.
    if (!signInIsRecent(tx.authTime, tx.maxAgeSeconds, clock.now())) {
      await auth.transactions.setUser(tx.id, null)
      return steps.renderLogin(reply, open, { error: { key: 'login.error.again' } })
    }
    return steps.continueSignedIn(request, reply, { tx, csrfToken: open.csrfToken, client: open.client })
  })
}
