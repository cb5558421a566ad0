import type { FastifyInstance } from 'fastify'
import { signInIsRecent } from '../../authorization/login-session.js'
import { findClient } from '../../authorization/request.js'
import { grantOf, signedInTransaction } from '../../authorization/transactions.js'
import { AuthorizationRedirectError, OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { formTransaction, type FormRouteContext } from './form.js'

/** POST /authorize/consent: allow or deny, for the sign-in the page was shown for. */
export function consentRoute(app: FastifyInstance, ctx: FormRouteContext): void {
  const { auth, cookies, steps, repos, clock } = ctx

  app.post('/authorize/consent', { config: ctx.routeConfig }, async (request, reply) => {
    const params = new Params(request.body)
    const { tx, csrfToken } = await formTransaction(ctx, request, params)
    const signedIn = signedInTransaction(tx)
    if (!signedIn) throw new OAuthError('invalid_request', 'sign in first')
    const { userId, authTime, amr } = signedIn
    // The sign-in this page was shown for must still be this browser's: not ended by a logout,
    // expired, or replaced by another user's sign-in in another tab.
    const session = await auth.sessions.find(cookies.sessionId(request))
    if (!session || session.userId !== userId) {
      throw new OAuthError('invalid_request', 'you are no longer signed in as the user of this request; start again from the application', {
        reason: 'signed_out',
      })
    }
    const client = await findClient(repos.clients, tx.clientId)
    // OIDC Core §3.1.2.1: the application asked for a sign-in no older than max_age. And again
    // here, in depth: the sign-in must meet the class required (the client's --require-mfa,
    // acr_values, MFA_REQUIRED) as it stands now.
    const strongEnough = await auth.requirements.isMetBy(amr, { client, acrValues: tx.acrValues, userId })
    if (!signInIsRecent(authTime, tx.maxAgeSeconds, clock.now()) || !strongEnough) {
      await auth.transactions.setUser(tx.id, null)
      return steps.renderLogin(reply, { tx, csrfToken, client }, { error: { key: 'login.error.again' } })
    }
    const decision = params.get('decision')
    if (decision !== 'allow' && decision !== 'deny') throw new OAuthError('invalid_request', 'decision must be allow or deny')
    await auth.transactions.complete(tx.id)
    // RFC 8628 §3.3: a device's request ends on a page, with no redirect and no remembered consent.
    const deviceAuthorizationId = tx.deviceAuthorizationId
    if (deviceAuthorizationId != null) return ctx.device.decide(request, reply, { tx: { ...tx, deviceAuthorizationId }, userId, authTime, amr, client, decision })
    if (decision === 'deny') {
      request.audit.record({ event: 'consent_denied', userId, clientId: client.id })
      throw new AuthorizationRedirectError('access_denied', 'the user denied the request', {
        redirectUri: tx.redirectUri,
        state: tx.state ?? undefined,
      })
    }
    await auth.consent.remember(client.id, userId, tx)
    request.audit.record({ event: 'consent_given', userId, clientId: client.id, scopes: tx.scopes, resource: tx.resource })
    return steps.redirectWithCode(request, reply, { ...grantOf(tx), userId, authTime, amr })
  })
}
