import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { passkeyName, type PasskeyService } from '../../accounts/passkeys.js'
import { findClient } from '../../authorization/request.js'
import { OAuthError } from '../../errors.js'
import { withSecondFactor, type AuthMethod } from '../../oauth/auth-methods.js'
import { Params } from '../../oauth/params.js'
import type { PageMessage } from '../../pages/i18n.js'
import type { PasskeyChallengeSlot } from '../../storage/passkey-challenges.js'
import type { AuthorizationTransaction } from '../../storage/authorization-transactions.js'
import type { Client } from '../../storage/clients.js'
import type { FactorPresenceRepository } from '../../storage/factor-presence.js'
import type { User, UserRepository } from '../../storage/users.js'
import { formTransaction, type FormRouteContext } from './form.js'
import { authorizeFlow } from './sign-in-flow.js'

/** The longest WebAuthn answer read from a form: a credential id (≤ 1023 bytes) and a signature with room to spare. */
export const MAX_CREDENTIAL_JSON = 16 * 1024

/** A passkey alone (user verification required): two factors' worth, RFC 8176 `hwk`. */
export const PASSKEY_ONLY: readonly AuthMethod[] = ['hwk']

/** The `credential` field: the browser's PublicKeyCredential as JSON; undefined when it is not JSON. */
export function credentialField(params: Params): unknown {
  const raw = params.get('credential')
  if (raw === undefined || raw.length > MAX_CREDENTIAL_JSON) return undefined
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return undefined
  }
}

/**
 * What a passkey step needs of the sign-in it belongs to: an authorization transaction here; an
 * account sign-in has the same shape (its challenge on account_sign_ins).
 */
export interface PasskeyFlow {
  /** Where this sign-in's WebAuthn challenge waits. */
  challenge: PasskeyChallengeSlot
  /** The password was right; the second factor is still to come. */
  pending: { userId: string; amr: AuthMethod[] } | null
  setPending(pending: null): Promise<void>
  /** Starts the login session with `amr` and records it on the flow; false if the user was disabled meanwhile. */
  signIn(request: FastifyRequest, reply: FastifyReply, userId: string, amr: readonly AuthMethod[]): Promise<boolean>
  /** After signIn: what comes next (consent or the code). */
  proceed(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>
  renderLogin(reply: FastifyReply, extra?: { error?: PageMessage }, status?: number): FastifyReply | Promise<FastifyReply>
  /** The second-factor page again, with an error (the login page when nobody is pending). */
  renderSecondFactor(reply: FastifyReply, extra: { error: PageMessage }, status: number): Promise<FastifyReply>
  /** The in-flow enrolment page again, with an error; without it, a failed enrolment ends the pending sign-in and shows the login page. */
  renderEnrol?(reply: FastifyReply, extra: { error: PageMessage }, status: number): Promise<FastifyReply>
}

/** The transaction's challenge, stored on its row (authorization_transactions.passkey_challenge). */
function transactionFlow(ctx: FormRouteContext, view: { tx: AuthorizationTransaction; csrfToken: string; client: Client }): PasskeyFlow {
  const { auth, cookies, steps } = ctx
  const { tx, csrfToken, client } = view
  let signedIn: { userId: string; authTime: number; amr: AuthMethod[] } | undefined
  return {
    challenge: { set: (c) => auth.transactions.setPasskeyChallenge(tx.id, c), take: () => auth.transactions.takePasskeyChallenge(tx.id) },
    pending: tx.pendingUserId !== null && tx.pendingAmr !== null ? { userId: tx.pendingUserId, amr: tx.pendingAmr } : null,
    setPending: (pending) => auth.transactions.setPending(tx.id, pending),
    async signIn(request, reply, userId, amr) {
      const started = await auth.sessions.start(userId, cookies.sessionId(request), amr)
      if (!started) return false
      cookies.setSession(reply, started.sessionId)
      await auth.transactions.setUser(tx.id, { userId, authTime: started.authTime, amr: started.amr })
      signedIn = { userId, authTime: started.authTime, amr: started.amr }
      return true
    },
    async proceed(request, reply) {
      if (!signedIn) throw new Error('proceed before signIn')
      return steps.continueSignedIn(request, reply, { tx: { ...tx, ...signedIn, pendingUserId: null, pendingAmr: null }, csrfToken, client })
    },
    renderLogin: (reply, extra, status) => steps.renderLogin(reply, view, extra, status),
    renderSecondFactor: async (reply, extra, status) =>
      tx.pendingUserId === null ? steps.renderLogin(reply, view, extra, status) : ctx.secondStep.renderSecondFactor(reply, authorizeFlow(ctx, view), tx.pendingUserId, extra, status),
  }
}

const SIGN_IN_FAILED = { key: 'passkey.error.signIn' }

/** The limits' refusal as the page says it. */
function limited(reply: FastifyReply, retryAfterSeconds: number): PageMessage {
  reply.header('retry-after', String(retryAfterSeconds))
  return { key: 'login.error.addressLimited', values: { wait: { seconds: Math.ceil(retryAfterSeconds / 60) * 60 } } }
}

/**
 * The passkey steps of a sign-in, whichever flow it belongs to:
 * - `firstFactor`: "Sign in with a passkey" on the login page, a discoverable credential, no
 *   username; the user is signed in with amr ["hwk"] and the flow goes on.
 * - `secondFactor`: the pending user's own passkey after the password: ["pwd","hwk","mfa"].
 * A failure shows the page again with one message, like a wrong password.
 */
export function passkeySteps(passkeys: PasskeyService, deps: { users: Pick<UserRepository, 'findById'>; factors: Pick<FactorPresenceRepository, 'hasFactor'> }) {
  /**
   * The pending user, if they may enrol a passkey here: only one with no second factor at all
   * (a password alone must never add a factor beside an existing one), still enabled.
   */
  const enrolling = async (flow: PasskeyFlow): Promise<User | undefined> => {
    if (flow.pending === null) return undefined
    const user = await deps.users.findById(flow.pending.userId)
    if (!user || user.disabledAt !== null || (await deps.factors.hasFactor(user.id))) return undefined
    return user
  }

  return {
    /** Registration options for a pending user sent to enrol (no factor yet); the challenge on the flow. */
    async enrolOptions(flow: PasskeyFlow) {
      const user = await enrolling(flow)
      if (!user) throw new OAuthError('invalid_request', 'no sign-in is waiting for a passkey to be set up')
      return passkeys.registrationOptions(flow.challenge, user)
    },

    /**
     * The pending user's first passkey, registered in the flow: then signed in with the password
     * and it (["pwd","hwk","mfa"]) and on with the flow.
     */
    async enrol(request: FastifyRequest, reply: FastifyReply, flow: PasskeyFlow, params: Params): Promise<FastifyReply> {
      const user = await enrolling(flow)
      const pending = flow.pending
      if (!user || pending === null) {
        await flow.setPending(null)
        return flow.renderLogin(reply, { error: { key: 'login.error.again' } }, 400)
      }
      const result = await passkeys.register(flow.challenge, { userId: user.id, response: credentialField(params), name: passkeyName(params.get('name') ?? '', 'Passkey') })
      if (result.outcome === 'failed') {
        request.log.info({ event: 'passkey_refused', reason: result.reason }, 'passkey enrolment refused')
        if (flow.renderEnrol) return flow.renderEnrol(reply, { error: { key: 'passkey.error.register' } }, 400)
        await flow.setPending(null)
        return flow.renderLogin(reply, { error: { key: 'passkey.error.register' } }, 400)
      }
      request.audit.record({ event: 'mfa_enrolled', userId: user.id, method: 'passkey' })
      const amr = withSecondFactor(pending.amr, 'hwk')
      if (!(await flow.signIn(request, reply, user.id, amr))) {
        await flow.setPending(null)
        return flow.renderLogin(reply, { error: { key: 'login.error.again' } }, 400)
      }
      await passkeys.signInCompleted({ user, ip: request.ip, via: 'login_page', amr }, request.audit)
      return flow.proceed(request, reply)
    },

    options(flow: PasskeyFlow, second: boolean) {
      if (second && flow.pending === null) throw new OAuthError('invalid_request', 'no sign-in is waiting for a second factor')
      return passkeys.authenticationOptions(flow.challenge, second ? flow.pending?.userId : undefined)
    },

    async firstFactor(request: FastifyRequest, reply: FastifyReply, flow: PasskeyFlow, params: Params): Promise<FastifyReply> {
      const checked = await passkeys.authenticate(flow.challenge, { response: credentialField(params), ip: request.ip }, request.audit)
      if (checked.outcome === 'addressLimited' || checked.outcome === 'throttled') return flow.renderLogin(reply, { error: limited(reply, checked.retryAfterSeconds) }, 429)
      if (checked.outcome === 'failed') {
        request.log.info({ event: 'passkey_refused', reason: checked.reason }, 'passkey sign-in refused')
        return flow.renderLogin(reply, { error: SIGN_IN_FAILED }, 401)
      }
      // Disabled in the meantime: the same answer as any failure.
      if (!(await flow.signIn(request, reply, checked.user.id, PASSKEY_ONLY))) return flow.renderLogin(reply, { error: SIGN_IN_FAILED }, 401)
      await passkeys.signInCompleted({ user: checked.user, ip: request.ip, via: 'passkey', amr: PASSKEY_ONLY }, request.audit)
      return flow.proceed(request, reply)
    },

    async secondFactor(request: FastifyRequest, reply: FastifyReply, flow: PasskeyFlow, params: Params): Promise<FastifyReply> {
      const pending = flow.pending
      const again = (error: PageMessage, status: number) => flow.renderSecondFactor(reply, { error }, status)
      if (pending === null) return flow.renderLogin(reply, { error: { key: 'login.error.again' } }, 400)
      const checked = await passkeys.authenticate(flow.challenge, { response: credentialField(params), ip: request.ip, userId: pending.userId }, request.audit)
      if (checked.outcome === 'addressLimited' || checked.outcome === 'throttled') return again(limited(reply, checked.retryAfterSeconds), 429)
      if (checked.outcome === 'failed') {
        request.log.info({ event: 'passkey_refused', reason: checked.reason }, 'passkey second factor refused')
        return again(SIGN_IN_FAILED, 401)
      }
      const amr = withSecondFactor(pending.amr, 'hwk')
      if (!(await flow.signIn(request, reply, pending.userId, amr))) {
        await flow.setPending(null)
        return flow.renderLogin(reply, { error: { key: 'login.error.again' } }, 400)
      }
      await passkeys.signInCompleted({ user: checked.user, ip: request.ip, via: 'login_page', amr }, request.audit)
      return flow.proceed(request, reply)
    },
  }
}

/**
 * The passkey endpoints of a sign-in flow under `base` (/authorize, /account). Each takes the
 * flow's form fields (its id and CSRF token) and refuses a form from another browser, or
 * without its token, with 403 (from `flowOf`).
 * - POST {base}/passkey/options, {base}/second-factor/passkey/options,
 *   {base}/enrol/passkey/options: the WebAuthn options as JSON (errors as JSON); the challenge
 *   waits on the flow's row.
 * - POST {base}/passkey, {base}/second-factor/passkey (a form the script submits, `credential` =
 *   the assertion as JSON): checked, then the flow goes on as after a password.
 * - POST {base}/enrol/passkey (`name`, `credential`): a pending user without any factor, sent
 *   to enrol, registers a first passkey in the flow.
 */
export function passkeyRoutes(
  app: FastifyInstance,
  options: { base: '/authorize' | '/account'; flowOf: (request: FastifyRequest, params: Params) => Promise<PasskeyFlow>; steps: PasskeySteps; routeConfig: { errorFormat: 'authorize' } },
): void {
  const { base, flowOf, steps } = options
  const json = { config: { errorFormat: 'json' as const } }
  const page = { config: options.routeConfig }
  const options_ = (path: string, make: (flow: PasskeyFlow) => Promise<unknown>) =>
    app.post(`${base}${path}/options`, json, async (request, reply) => reply.send(await make(await flowOf(request, new Params(request.body)))))
  const answer = (path: string, step: (request: FastifyRequest, reply: FastifyReply, flow: PasskeyFlow, params: Params) => Promise<FastifyReply>) =>
    app.post(`${base}${path}`, page, async (request, reply) => {
      const params = new Params(request.body)
      return step(request, reply, await flowOf(request, params), params)
    })
  options_('/passkey', (flow) => steps.options(flow, false))
  answer('/passkey', steps.firstFactor)
  options_('/second-factor/passkey', (flow) => steps.options(flow, true))
  answer('/second-factor/passkey', steps.secondFactor)
  options_('/enrol/passkey', (flow) => steps.enrolOptions(flow))
  answer('/enrol/passkey', steps.enrol)
}

export type PasskeySteps = ReturnType<typeof passkeySteps>

/** The passkey endpoints of /authorize, on the authorization transaction. */
export function passkeyLoginRoute(app: FastifyInstance, ctx: FormRouteContext & { passkeys: PasskeyService }): void {
  const steps = passkeySteps(ctx.passkeys, { users: ctx.repos.users, factors: ctx.repos.factorPresence })
  passkeyRoutes(app, {
    base: '/authorize',
    steps,
    routeConfig: ctx.routeConfig,
    async flowOf(request, params) {
      const { tx, csrfToken } = await formTransaction(ctx, request, params)
      const client = await findClient(ctx.repos.clients, tx.clientId)
      return transactionFlow(ctx, { tx, csrfToken, client })
    },
  })
}
