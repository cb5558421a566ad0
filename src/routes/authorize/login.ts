import type { FastifyInstance } from 'fastify'
import type { SignInChecker } from '../../accounts/credentials.js'
import { findClient } from '../../authorization/request.js'
import { Params } from '../../oauth/params.js'
import { formTransaction, type FormRouteContext } from './form.js'
import { authorizeFlow } from './sign-in-flow.js'

/** POST /authorize/login: the login form, or "use another account". */
export function loginRoute(app: FastifyInstance, ctx: FormRouteContext & { signIns: SignInChecker }): void {
  const { auth, steps, repos } = ctx

  app.post('/authorize/login', { config: ctx.routeConfig }, async (request, reply) => {
    const params = new Params(request.body)
    const { tx, csrfToken } = await formTransaction(ctx, request, params)
    const client = await findClient(repos.clients, tx.clientId)
    const view = { tx, csrfToken, client }
    if (params.get('action') === 'switch') {
      // Forgets the user, signed in or pending.
      await auth.transactions.setUser(tx.id, null)
      return steps.renderLogin(reply, view)
    }
    const username = params.get('username') ?? ''
    const password = params.get('password') ?? ''
    const checked = await ctx.signIns.check({ username, password, ip: request.ip, via: 'login_page' }, request.audit)
    // The transaction stays usable for another try.
    if (checked.outcome === 'throttled') {
      reply.header('retry-after', String(checked.retryAfterSeconds))
      return steps.renderLogin(reply, view, { error: { key: 'login.error.throttled' }, username }, 429)
    }
    if (checked.outcome === 'addressLimited') {
      reply.header('retry-after', String(checked.retryAfterSeconds))
      const wait = { seconds: Math.ceil(checked.retryAfterSeconds / 60) * 60 }
      return steps.renderLogin(reply, view, { error: { key: 'login.error.addressLimited', values: { wait } }, username }, 429)
    }
    // One message for every failure.
    if (checked.outcome === 'wrong') return steps.renderLogin(reply, view, { error: { key: 'login.error.wrong' }, username }, 401)
    const { user } = checked
    // The one place the policy is evaluated (MFA_REQUIRED, --require-mfa, acr_values).
    const required = await auth.requirements.requiredFor({ client, acrValues: tx.acrValues, userId: user.id })
    return ctx.secondStep.afterPassword(request, reply, authorizeFlow(ctx, view), user, required)
  })
}
