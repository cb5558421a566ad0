import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { MAX_PASSKEYS_PER_USER, passkeyName, type PasskeyService } from '../../accounts/passkeys.js'
import type { Authorization } from '../../authorization/index.js'
import type { Clock } from '../../clock.js'
import type { Config } from '../../config.js'
import { OAuthError } from '../../errors.js'
import { withSecondFactor } from '../../oauth/auth-methods.js'
import { Params } from '../../oauth/params.js'
import { sha256Hex } from '../../oauth/secrets.js'
import { setPageHeaders, type Pages } from '../../pages/pages.js'
import type { Repositories } from '../../storage/repositories.js'
import { browserCookies } from '../browser-cookies.js'
import { credentialField } from '../authorize/passkey.js'
import { accountCsrfMatches, recentSession } from './session.js'

/** Where the account page is; every passkey change returns there. */
export const ACCOUNT_PAGE = '/account/security'

export interface AccountPasskeyRouteOptions {
  config: Config
  repos: Repositories
  clock: Clock
  pages: Pages
  auth: Authorization
  passkeys: PasskeyService
}

/** The passkey list as the account page shows it. */
export async function passkeySection(repos: Pick<Repositories, 'passkeys'>, userId: string) {
  const list = await repos.passkeys.listForUser(userId)
  return list.map((p) => ({ credentialId: p.credentialId, name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt }))
}

/**
 * The signed-in user's passkeys (/account/security's passkey section):
 * - POST /account/passkeys/options → JSON PublicKeyCredentialCreationOptions; the challenge
 *   waits on the login session.
 * - POST /account/passkeys (`name`, `credential` = the new credential as JSON) → JSON
 *   `{"location"}`, the page to show next; audit mfa_enrolled.
 * - POST /account/passkeys/rename (`credential_id`, `name`) and /account/passkeys/remove
 *   (`credential_id`, audit mfa_removed): plain forms, 303 back to the page.
 * Every one needs a recent sign-in (ACCOUNT_SIGN_IN_MAX_AGE_MS) and the page's CSRF token
 * (derived from the session cookie). JSON errors: 401 without a recent sign-in, 403 without
 * the token, 400 for an answer that does not verify.
 */
export const accountPasskeysRoute: FastifyPluginAsync<AccountPasskeyRouteOptions> = async (app, options) => {
  const { config, repos, clock, auth, passkeys } = options
  const cookies = browserCookies({ issuer: config.issuer })
  const json = { config: { errorFormat: 'json' as const } }
  const sessionDeps = { sessions: auth.sessions, cookies, clock, policy: config.mfaRequired, factors: repos.factorPresence }
  app.addHook('onRequest', async (_request, reply) => setPageHeaders(reply))

  /** The signed-in user behind a form post with the right token; else a JSON 401 or 403. */
  async function signedIn(request: FastifyRequest, params: Params) {
    const found = await recentSession(sessionDeps, request)
    if (!found) throw new OAuthError('access_denied', 'sign in again to manage your passkeys', { status: 401 })
    if (!accountCsrfMatches(found.sessionId, params.get('csrf_token'))) {
      throw new OAuthError('invalid_request', 'this form was not sent from the browser that is signed in', { status: 403 })
    }
    const user = await repos.users.findById(found.session.userId)
    if (!user) throw new OAuthError('access_denied', 'sign in again to manage your passkeys', { status: 401 })
    return { user, ...found, slot: repos.passkeyChallenges.forSession(sha256Hex(found.sessionId)) }
  }

  app.post('/account/passkeys/options', json, async (request, reply) => {
    const { user, slot } = await signedIn(request, new Params(request.body))
    if ((await repos.passkeys.listForUser(user.id)).length >= MAX_PASSKEYS_PER_USER) {
      throw new OAuthError('invalid_request', `at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first`, { status: 409 })
    }
    return reply.send(await passkeys.registrationOptions(slot, user))
  })

  app.post('/account/passkeys', json, async (request, reply) => {
    const params = new Params(request.body)
    const { user, slot, session, sessionId } = await signedIn(request, params)
    const name = passkeyName(params.get('name') ?? '', 'Passkey')
    const result = await passkeys.register(slot, { userId: user.id, response: credentialField(params), name })
    if (result.outcome === 'failed') {
      request.log.info({ event: 'passkey_refused', reason: result.reason }, 'passkey registration refused')
      throw new OAuthError('invalid_request', 'the passkey could not be registered', { status: 400 })
    }
    request.audit.record({ event: 'mfa_enrolled', userId: user.id, method: 'passkey' })
    // The person has just unlocked the new passkey (user verification), minutes after signing
    // in: the session now counts as a sign-in with it too (a new session: no fixation).
    const started = await auth.sessions.start(user.id, sessionId, withSecondFactor(session.amr, 'hwk'))
    if (started) cookies.setSession(reply, started.sessionId)
    return reply.send({ location: ACCOUNT_PAGE })
  })

  const back = (reply: FastifyReply) => reply.redirect(ACCOUNT_PAGE, 303)

  app.post('/account/passkeys/rename', json, async (request, reply) => {
    const params = new Params(request.body)
    const { user } = await signedIn(request, params)
    const credentialId = params.get('credential_id')
    const name = passkeyName(params.get('name') ?? '', '')
    if (credentialId === undefined || name === '') throw new OAuthError('invalid_request', 'name the passkey and give it a new name')
    if (!(await repos.passkeys.rename(user.id, credentialId, name))) throw new OAuthError('invalid_request', 'no such passkey', { status: 404 })
    return back(reply)
  })

  app.post('/account/passkeys/remove', json, async (request, reply) => {
    const params = new Params(request.body)
    const { user } = await signedIn(request, params)
    const credentialId = params.get('credential_id')
    // MFA_REQUIRED=all: an account may not be left without a second factor.
    if (config.mfaRequired === 'all' && credentialId !== undefined) {
      const [passkeys, totp] = await Promise.all([repos.passkeys.listForUser(user.id), repos.secondFactors.findTotp(user.id)])
      const lastFactor = passkeys.length === 1 && passkeys[0]?.credentialId === credentialId && !totp?.confirmedAt
      if (lastFactor) throw new OAuthError('invalid_request', 'every account needs a second factor: add another before removing this one', { status: 409 })
    }
    if (credentialId === undefined || !(await repos.passkeys.remove(user.id, credentialId))) {
      throw new OAuthError('invalid_request', 'no such passkey', { status: 404 })
    }
    request.audit.record({ event: 'mfa_removed', userId: user.id, method: 'passkey' })
    return back(reply)
  })
}
