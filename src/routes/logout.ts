import { createHmac } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Authorization } from '../authorization/index.js'
import { findClient } from '../authorization/request.js'
import type { Config } from '../config.js'
import { OAuthError } from '../errors.js'
import { Params } from '../oauth/params.js'
import { secretMatchesHash, sha256Hex } from '../oauth/secrets.js'
import type { Client } from '../storage/clients.js'
import type { Repositories } from '../storage/repositories.js'
import type { IdTokenHint, IdTokenHintVerifier } from '../tokens/id-token-hint.js'
import { setPageHeaders, type Pages } from '../pages/pages.js'
import { returnTarget } from './authorize/steps.js'
import { browserCookies, redirectPostToGet } from './browser-cookies.js'

export interface LogoutRouteOptions {
  config: Config
  repos: Pick<Repositories, 'clients' | 'users'>
  /** Login sessions (built once in app.ts). */
  auth: Pick<Authorization, 'sessions'>
  pages: Pages
  /** Reads id_token_hint (built once in app.ts). */
  hints: IdTokenHintVerifier
}

/** Where the browser goes once signed out: a registered URI of an identified client, or nowhere. */
interface LogoutTarget {
  client: Client | undefined
  postLogoutRedirectUri: string | undefined
  state: string | undefined
}

const CSRF_CONTEXT = 'latchkey logout confirmation v1'

/**
 * A stateless CSRF token: an HMAC keyed by the HttpOnly browser cookie, which a cross-site
 * attacker can neither read nor (SameSite=Lax) have sent with its POST.
 */
function logoutCsrfToken(browserId: string): string {
  return createHmac('sha256', browserId).update(CSRF_CONTEXT).digest('base64url')
}

/** The client an ID token was issued to: its only audience, or its `azp` (OIDC Core §2). */
function hintClientId(hint: IdTokenHint): string | undefined {
  if (hint.audience.length === 1) return hint.audience[0]
  return hint.authorizedParty !== undefined && hint.audience.includes(hint.authorizedParty) ? hint.authorizedParty : undefined
}

/** The request URL without its query: an id_token_hint there must not reach the logs. */
function redactedRequest(request: FastifyRequest) {
  return { method: request.method, url: request.url.split('?')[0], host: request.host, remoteAddress: request.ip }
}

/** OpenID Connect RP-Initiated Logout 1.0 (the discovery `end_session_endpoint`). */
export const logoutRoute: FastifyPluginAsync<LogoutRouteOptions> = async (app, { config, repos, auth, pages, hints }) => {
  const browser = browserCookies({ issuer: config.issuer })
  // Errors render the error page; nothing here throws AuthorizationRedirectError, so an error
  // never redirects (no open redirect through post_logout_redirect_uri).
  const routeOptions = { config: { errorFormat: 'authorize' as const }, logSerializers: { req: redactedRequest } }
  app.addHook('onRequest', async (_request, reply) => setPageHeaders(reply))

  function csrfMatches(request: FastifyRequest, presented: string | undefined): boolean {
    const browserId = browser.existingBrowserId(request)
    if (presented === undefined || browserId === undefined) return false
    // Constant time: both sides are hashed to the same length first.
    return secretMatchesHash(presented, sha256Hex(logoutCsrfToken(browserId)))
  }

  /**
   * Identifies the client (client_id, else the hint's audience) and checks that a
   * post_logout_redirect_uri is registered for it by exact string match.
   */
  async function resolveTarget(params: Params, hint: IdTokenHint | undefined): Promise<LogoutTarget> {
    params.rejectRepeated()
    const clientId = params.get('client_id')
    if (hint !== undefined && clientId !== undefined && !hint.audience.includes(clientId)) {
      throw new OAuthError('invalid_request', 'client_id does not match the audience of id_token_hint')
    }
    const id = clientId ?? (hint === undefined ? undefined : hintClientId(hint))
    const client = id === undefined ? undefined : await findClient(repos.clients, id)
    const postLogoutRedirectUri = params.get('post_logout_redirect_uri')
    if (postLogoutRedirectUri !== undefined) {
      if (client === undefined) {
        throw new OAuthError('invalid_request', 'post_logout_redirect_uri needs client_id or a valid id_token_hint')
      }
      if (!client.postLogoutRedirectUris.includes(postLogoutRedirectUri)) {
        throw new OAuthError('invalid_request', 'post_logout_redirect_uri is not registered for this client')
      }
    }
    return { client, postLogoutRedirectUri, state: params.get('state') }
  }

  /** Deletes the login session (even an expired one) and clears its cookie; fine without one. */
  async function endSession(request: FastifyRequest, reply: FastifyReply, target: LogoutTarget): Promise<void> {
    const sessionId = browser.sessionId(request)
    if (sessionId === undefined) return
    const session = await auth.sessions.find(sessionId)
    await auth.sessions.end(sessionId)
    browser.clearSession(reply)
    request.audit.record({ event: 'logout', userId: session?.userId, clientId: target.client?.id })
  }

  function finish(reply: FastifyReply, target: LogoutTarget, locale?: string): FastifyReply {
    if (target.postLogoutRedirectUri === undefined) return pages.render(reply, 'signed-out', {}, { locale })
    const url = new URL(target.postLogoutRedirectUri)
    if (target.state !== undefined) url.searchParams.set('state', target.state)
    // RFC 9700 §4.12: 303, never 307.
    return reply.redirect(url.href, 303)
  }

  app.get('/logout', routeOptions, async (request, reply) => {
    const params = new Params(request.query)
    const token = params.get('id_token_hint')
    const hint = token === undefined ? undefined : await hints.verify(token)
    const target = await resolveTarget(params, hint)
    const session = await auth.sessions.find(browser.sessionId(request))
    // OIDC RP-Initiated Logout 1.0 §2: without a hint for this very sign-in, ask first. An
    // expired hint is accepted, but only one issued for the current session (same user and
    // auth_time): an old ID token found in some log must not end a later session unasked.
    const forThisSession =
      session === undefined || (session.userId === hint?.subject && hint.authTimeSeconds === Math.floor(session.authTime / 1000))
    // A self-registered client's post_logout_redirect_uri is anyone's choice: always ask, so
    // latchkey never sends a browser there unasked (RFC 9700 §4.11.2: no open redirector).
    if (hint !== undefined && forThisSession && target.client?.selfRegistered !== true) {
      await endSession(request, reply, target)
      return finish(reply, target)
    }
    const user = session === undefined ? undefined : await repos.users.findById(session.userId)
    return pages.render(reply, 'logout', {
      // RP-Initiated Logout 1.0 §2: ui_locales; the form carries it to the signed-out page.
      uiLocale: pages.pickUiLocale(params.get('ui_locales')),
      username: user?.username,
      clientName: target.client?.name,
      clientId: target.client?.id,
      selfRegistered: target.client?.selfRegistered === true,
      // Where the browser goes once signed out, as a person recognises it (as on the consent page).
      returnHost: target.postLogoutRedirectUri === undefined ? undefined : returnTarget(target.postLogoutRedirectUri).host,
      postLogoutRedirectUri: target.postLogoutRedirectUri,
      state: target.state,
      csrfToken: logoutCsrfToken(browser.browserId(request, reply)),
    })
  })

  app.post('/logout', routeOptions, async (request, reply) => redirectPostToGet('/logout', request.body, reply))

  app.post('/logout/confirm', routeOptions, async (request, reply) => {
    const params = new Params(request.body)
    if (!csrfMatches(request, params.get('csrf_token'))) {
      throw new OAuthError('invalid_request', 'this form was not sent from the browser that asked to sign out', { status: 403, reason: 'wrong_browser' })
    }
    const target = await resolveTarget(params, undefined)
    await endSession(request, reply, target)
    return finish(reply, target, pages.pickUiLocale(params.get('ui_locales')))
  })
}
