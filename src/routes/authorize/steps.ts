import type { FastifyReply, FastifyRequest } from 'fastify'
import { consentCanBeRemembered } from '../../authorization/consent.js'
import type { Authorization } from '../../authorization/index.js'
import { isLoopbackHost } from '../../config.js'
import { grantOf, type OpenTransaction, type SignedInTransaction } from '../../authorization/transactions.js'
import type { ApprovedGrant } from '../../authorization/code-issuance.js'
import { redirectStatus } from '../../error-handler.js'
import { OAuthError } from '../../errors.js'
import type { PageMessage } from '../../pages/i18n.js'
import type { Pages } from '../../pages/pages.js'
import type { Client } from '../../storage/clients.js'
import type { Repositories } from '../../storage/repositories.js'

/** The steps the /authorize handlers share: the login page, the consent page, the code. */
export interface AuthorizeSteps {
  renderLogin(reply: FastifyReply, view: OpenTransaction & { client: Client }, extra?: { error?: PageMessage; username?: string }, status?: number): FastifyReply
  /**
   * After sign-in: the consent page, or the code when a remembered consent covers the request.
   * A sign-in weaker than the request requires (a second factor is due) goes no further.
   */
  continueSignedIn(request: FastifyRequest, reply: FastifyReply, view: { tx: SignedInTransaction; csrfToken: string; client: Client }): Promise<FastifyReply>
  /** Issues the code and sends the browser back to the client. */
  redirectWithCode(request: FastifyRequest, reply: FastifyReply, grant: ApprovedGrant): Promise<FastifyReply>
}

/** How long what the consent page allows lasts: what /token will really issue. */
export interface GrantLifetimes {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  refreshTokenMaxTtlSeconds: number
}

/**
 * Where the browser goes after the consent page, as a person recognises it: the host of a web
 * app, or, for a native app (loopback or private-use scheme, RFC 8252), an app on this device.
 */
export function returnTarget(redirectUri: string): { host: string; onDevice: boolean } {
  const url = new URL(redirectUri)
  if (url.protocol === 'http:' || url.protocol === 'https:') return { host: url.host, onDevice: isLoopbackHost(url.hostname) }
  return { host: url.protocol.slice(0, -1), onDevice: true }
}

export function authorizeSteps(deps: {
  auth: Authorization
  pages: Pages
  repos: Pick<Repositories, 'users' | 'scopes' | 'clients'>
  lifetimes: GrantLifetimes
}): AuthorizeSteps {
  const { auth, pages, repos, lifetimes } = deps

  // The consent page names the API the token is for (RFC 8707): the registered resource server's
  // name, chosen by an administrator, else the audience URI itself.
  const apiName = async (resource: string): Promise<string> => (await repos.clients.findByAudience(resource))?.name ?? resource

  const redirectWithCode: AuthorizeSteps['redirectWithCode'] = async (request, reply, grant) =>
    reply.redirect(await auth.codes.issue(grant), redirectStatus(request))

  return {
    redirectWithCode,
    renderLogin(reply, view, extra = {}, status = 200) {
      return pages.render(
        reply,
        'login',
        {
          action: '/authorize/login',
          hidden: [
            { name: 'transaction', value: view.tx.id },
            { name: 'csrf_token', value: view.csrfToken },
          ],
          clientName: view.client.name,
          error: extra.error,
          username: extra.username ?? view.tx.loginHint ?? '',
          passkeyAction: '/authorize/passkey',
        },
        { status, locale: view.tx.uiLocale },
      )
    },
    async continueSignedIn(request, reply, { tx, csrfToken, client }) {
      // Defence in depth: whoever signed the user in must have asked for the second factor due.
      if (!(await auth.requirements.isMetBy(tx.amr, { client, acrValues: tx.acrValues, userId: tx.userId }))) {
        throw new OAuthError('invalid_request', 'this sign-in needs a second factor; start again from the application', { status: 403 })
      }
      // RFC 8628 §5.4: a device's request always shows the consent page, whatever was remembered.
      const device = tx.deviceAuthorizationId != null
      if (!device && !(await auth.consent.needsConsent(client, tx))) {
        await auth.transactions.complete(tx.id)
        return redirectWithCode(request, reply, { ...grantOf(tx), userId: tx.userId, authTime: tx.authTime, amr: tx.amr })
      }
      const user = await repos.users.findById(tx.userId)
      const scopes = await repos.scopes.findByNames(tx.scopes)
      const target = returnTarget(tx.redirectUri)
      // A refresh token comes with the code exchange whenever the client is registered for it
      // (offline_access or not), so that is when access outlasts one access token.
      const refresh = client.grantTypes.includes('refresh_token')
        ? { idleSeconds: lifetimes.refreshTokenTtlSeconds, maxSeconds: lifetimes.refreshTokenMaxTtlSeconds }
        : undefined
      return pages.render(
        reply,
        'consent',
        {
          clientName: client.name,
          apiName: await apiName(tx.resource),
          username: user?.username ?? '',
          scopes: tx.scopes.map((name) => scopes.find((s) => s.name === name) ?? { name, description: '' }),
          returnHost: target.host,
          returnToDevice: target.onDevice,
          duration: { accessSeconds: lifetimes.accessTokenTtlSeconds, refresh },
          remembered: !device && consentCanBeRemembered(client, tx.redirectUri),
          device,
          // RFC 7591 §5: say that nobody vetted the app, and where it sends the user back.
          selfRegistered: client.selfRegistered === true,
          transaction: tx.id,
          csrfToken,
        },
        { locale: tx.uiLocale },
      )
    },
  }
}
