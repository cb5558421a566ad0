import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuthMethod } from '../../oauth/auth-methods.js'
import type { Authorization } from '../../authorization/index.js'
import { signedInTransaction } from '../../authorization/transactions.js'
import { findClient } from '../../authorization/request.js'
import { OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { secretMatchesHash, sha256Hex } from '../../oauth/secrets.js'
import type { PageMessage } from '../../pages/i18n.js'
import type { Pages } from '../../pages/pages.js'
import type { AuthorizationTransaction } from '../../storage/authorization-transactions.js'
import type { Client } from '../../storage/clients.js'
import { verificationUri } from '../device-authorization.js'
import type { FormRouteContext } from './form.js'
import { startTransaction } from './start.js'

/** The end of a device's authorization: the user's decision on the consent page. */
export interface DeviceSteps {
  /**
   * RFC 8628 §3.3: marks the device authorization approved (its code written) or denied, and
   * shows a page saying so; the device learns it at its next poll. No redirect: there is no
   * client in this browser to go back to.
   */
  decide(
    request: FastifyRequest,
    reply: FastifyReply,
    input: {
      tx: AuthorizationTransaction & { deviceAuthorizationId: string }
      userId: string
      authTime: number
      amr: readonly AuthMethod[]
      client: Client
      decision: 'allow' | 'deny'
    },
  ): Promise<FastifyReply>
}

export function deviceSteps(deps: { auth: Authorization; pages: Pages }): DeviceSteps {
  return {
    async decide(request, reply, { tx, userId, authTime, amr, client, decision }) {
      const id = tx.deviceAuthorizationId
      const decided =
        decision === 'allow'
          ? await deps.auth.devices.approve(id, { userId, authTime, amr, verificationUri: tx.redirectUri })
          : await deps.auth.devices.deny(id, { userId, authTime, amr })
      // Expired while the pages were open (or decided in another tab): the device gets nothing.
      if (!decided) throw new OAuthError('invalid_request', 'the code from your device has expired or was already used', { reason: 'expired' })
      // The device authorization's id, never its codes.
      const device = { via: 'device', deviceAuthorizationId: id } as const
      if (decision === 'allow') {
        request.audit.record({ event: 'consent_given', userId, clientId: client.id, scopes: tx.scopes, resource: tx.resource, ...device })
      } else {
        request.audit.record({ event: 'consent_denied', userId, clientId: client.id, ...device })
      }
      return deps.pages.render(reply, 'device-done', { approved: decision === 'allow', clientName: client.name }, { locale: tx.uiLocale })
    },
  }
}

/**
 * The verification page's CSRF token (the page opens no transaction before a code is entered):
 * derived from the browser cookie, which only this browser and latchkey know. A cross-site form
 * cannot read it; SameSite=Lax keeps the cookie off such a post anyway.
 */
function csrfTokenOf(browserId: string): string {
  return sha256Hex(`device-form:${browserId}`)
}

/**
 * RFC 8628 §3.3: the verification page. GET /device shows the form (the code filled in from
 * verification_uri_complete's `user_code`, never submitted by itself, §3.3.1); POST /device looks
 * the code up, refusing wrong codes past a limit per address and per browser (§5.1), then opens
 * an authorization transaction bound to the device authorization and goes on with /authorize's
 * login and consent pages.
 */
export function deviceRoute(app: FastifyInstance, ctx: FormRouteContext & { pages: Pages; issuer: string }): void {
  const { auth, cookies, steps, repos, pages } = ctx
  // No app sent the person here: a bad request is this page's, not an app's (error page text).
  const config = { ...ctx.routeConfig, badRequestReason: 'device_request' as const }

  const renderForm = (reply: FastifyReply, view: { browserId: string; userCode: string; prefilled?: boolean; error?: PageMessage }, status = 200) =>
    pages.render(
      reply,
      'device',
      { csrfToken: csrfTokenOf(view.browserId), userCode: view.userCode, prefilled: view.prefilled === true, error: view.error },
      { status },
    )

  app.get('/device', { config }, async (request, reply) => {
    const userCode = new Params(request.query).get('user_code') ?? ''
    // Shown as typed, never looked up here: a link alone approves nothing.
    return renderForm(reply, { browserId: cookies.browserId(request, reply), userCode: userCode.slice(0, 64), prefilled: userCode !== '' })
  })

  app.post('/device', { config }, async (request, reply) => {
    const params = new Params(request.body)
    const browserId = cookies.existingBrowserId(request)
    const csrfToken = params.get('csrf_token')
    if (browserId === undefined || csrfToken === undefined || !secretMatchesHash(`device-form:${browserId}`, csrfToken)) {
      throw new OAuthError('invalid_request', 'this form was not sent from the browser that opened it', { status: 403, reason: 'wrong_browser' })
    }
    const userCode = (params.get('user_code') ?? '').slice(0, 64)
    const entry = await auth.devices.enter({ userCode, ip: request.ip, browserId })
    if (entry.outcome === 'limited') {
      const { limit, retryAfterSeconds } = entry
      if (entry.first) {
        request.audit.record(
          limit === 'global' ? { event: 'device_code_guessing', retryAfterSeconds } : { event: 'authorize_throttled', limit: 'user_code_failures', retryAfterSeconds },
        )
      }
      reply.header('retry-after', String(retryAfterSeconds))
      const wait = { seconds: Math.ceil(retryAfterSeconds / 60) * 60 }
      const error = limit === 'global' ? { key: 'device.error.limitedEveryone', values: { wait } } : { key: 'device.error.limited', values: { wait } }
      return renderForm(reply, { browserId, userCode, error }, 429)
    }
    if (entry.outcome === 'wrong') return renderForm(reply, { browserId, userCode, error: { key: 'device.error.wrong' } }, 400)

    const { device } = entry
    const client = await findClient(repos.clients, device.clientId)
    const found = await auth.sessions.find(cookies.sessionId(request))
    // A session counts only if its sign-in meets what this client requires (no acr_values here).
    const session = found && (await auth.requirements.isMetBy(found.amr, { client, acrValues: null, userId: found.userId })) ? found : undefined
    const open = await startTransaction(auth, request, {
      grant: {
        clientId: device.clientId,
        redirectUri: verificationUri(ctx.issuer),
        state: null,
        scopes: device.scopes,
        resource: device.resource,
        codeChallenge: null,
        codeChallengeMethod: null,
        nonce: null,
      },
      browserId,
      // RFC 8628 §5.4: the user always sees who asks, and for what, before approving.
      forceConsent: true,
      signedIn: session && { userId: session.userId, authTime: session.authTime, amr: session.amr },
      loginHint: undefined,
      maxAgeSeconds: undefined,
      clientAddress: request.ip,
      deviceAuthorizationId: device.id,
    })
    const signedIn = signedInTransaction(open.tx)
    if (!signedIn) return steps.renderLogin(reply, { ...open, client })
    return steps.continueSignedIn(request, reply, { ...open, tx: signedIn, client })
  })
}
