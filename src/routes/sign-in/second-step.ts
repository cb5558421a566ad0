import type { FastifyReply, FastifyRequest } from 'fastify'
import { ACR_PWD, PASSWORD_ONLY, withSecondFactor, type Acr, type AuthMethod } from '../../oauth/auth-methods.js'
import { signInSucceeded } from '../../accounts/credentials.js'
import { checkSecondFactor, type SignInLimits } from '../../accounts/second-factor-check.js'
import type { SecondFactors, TotpEnrolment } from '../../accounts/second-factors.js'
import type { Params } from '../../oauth/params.js'
import type { AuditLog } from '../../audit.js'
import type { PageMessage } from '../../pages/i18n.js'
import type { Pages } from '../../pages/pages.js'
import type { User, UserRepository } from '../../storage/users.js'

export interface HiddenField {
  name: string
  value: string
}

/** A form that leads on from a page shown between two steps (recovery codes). */
export interface NextForm {
  method: 'post' | 'get'
  action: string
  hidden: HiddenField[]
}

/**
 * A sign-in in progress and how it ends: an authorization transaction (/authorize/…) or an
 * account sign-in (/account/…). Its forms post to `base` + /login, /second-factor, /enrol.
 */
export interface SignInFlow {
  base: '/authorize' | '/account'
  /** The hidden inputs binding a form to the flow (its id and CSRF token). */
  hidden: HiddenField[]
  locale: string | null
  /** The app being signed in to (authorize); none for the account page. */
  clientName?: string | undefined
  /** The password was right; the second factor is still to come. */
  pending: { userId: string; amr: AuthMethod[] } | null
  setPending(pending: { userId: string; amr: readonly AuthMethod[] } | null): Promise<void>
  /** Starts the login session with `amr` and records it on the flow; false if the user was disabled meanwhile. */
  signIn(request: FastifyRequest, reply: FastifyReply, userId: string, amr: readonly AuthMethod[]): Promise<boolean>
  /** After signIn: what comes next (consent or the code; /account/security). */
  proceed(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>
  /** The same, as a form on a page shown in between. */
  next: NextForm
  renderLogin(reply: FastifyReply, extra?: { error?: PageMessage; username?: string }, status?: number): FastifyReply
}

export interface SecondStepDeps {
  pages: Pages
  /** The request's SecondFactors: it records its own audit events (enrolment, recovery codes). */
  secondFactorsFor: (audit: AuditLog) => SecondFactors
  limits: SignInLimits
  users: Pick<UserRepository, 'findById'>
}

/** The secret as an app's "enter a key" field takes it, in groups of four for typing. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ')
}

/** The otpauth URI as a QR code, inline SVG (no style attribute: the CSP allows no inline style). */
export async function qrSvg(uri: string): Promise<string> {
  // qrcode loads at the first enrolment (about 10 MiB an idle server need not hold); the bundle leaves it out.
  const { default: QRCode } = await import('qrcode')
  const svg = await QRCode.toString(uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' })
  return svg.replace('<svg ', '<svg aria-hidden="true" focusable="false" ')
}

export interface SecondStep {
  /**
   * The password was right: sign in when one factor is enough; otherwise record the user as
   * pending and ask for the second factor, or, for a user who has none, send them to enrol.
   */
  afterPassword(request: FastifyRequest, reply: FastifyReply, flow: SignInFlow, user: User, required: Acr): Promise<FastifyReply>
  /** POST …/second-factor: an app code or a recovery code for the pending user. */
  secondFactor(request: FastifyRequest, reply: FastifyReply, flow: SignInFlow, params: Params): Promise<FastifyReply>
  /** POST …/enrol: a pending user without a factor sets up an authenticator app (step begin | confirm). */
  enrol(request: FastifyRequest, reply: FastifyReply, flow: SignInFlow, params: Params): Promise<FastifyReply>
  renderEnrol(reply: FastifyReply, view: EnrolView, status?: number): Promise<FastifyReply>
  renderCodes(reply: FastifyReply, view: { codes: string[]; next: NextForm; locale: string | null; notice?: PageMessage }): FastifyReply
  /** The second-factor page for the pending user, with an error (a failed passkey, too). */
  renderSecondFactor(reply: FastifyReply, flow: SignInFlow, userId: string, extra?: { error?: PageMessage }, status?: number): Promise<FastifyReply>
}

export interface EnrolView {
  hidden: HiddenField[]
  locale: string | null
  confirmAction: string
  restartAction: string
  /** Set: the enrolment to show (QR and key). Unset: after a wrong code, the code field alone. */
  enrolment?: TotpEnrolment | undefined
  required: boolean
  error?: PageMessage | undefined
}

const WRONG_SIGN_IN = { key: 'login.error.wrong' }

export function secondStep(deps: SecondStepDeps): SecondStep {
  const { pages } = deps

  const renderSecondFactor = async (reply: FastifyReply, flow: SignInFlow, userId: string, extra: { error?: PageMessage; mode?: 'totp' | 'recovery' } = {}, status = 200) => {
    const factors = await deps.secondFactorsFor(reply.request.audit).status(userId)
    return pages.render(
      reply,
      'second-factor',
      {
        base: flow.base,
        hidden: flow.hidden,
        clientName: flow.clientName,
        switchAccount: flow.base === '/authorize',
        totp: factors.totp,
        passkeys: factors.passkeys,
        recoveryCodesLeft: factors.recoveryCodesLeft,
        error: extra.error,
        mode: extra.mode ?? 'totp',
      },
      { status, locale: flow.locale },
    )
  }

  const renderEnrol: SecondStep['renderEnrol'] = async (reply, view, status = 200) => {
    const enrolment = view.enrolment && { qrSvg: await qrSvg(view.enrolment.otpauthUri), groupedSecret: groupSecret(view.enrolment.secret) }
    return pages.render(
      reply,
      'enrol-totp',
      { hidden: view.hidden, confirmAction: view.confirmAction, restartAction: view.restartAction, enrolment, required: view.required, error: view.error },
      { status, locale: view.locale },
    )
  }

  const renderCodes: SecondStep['renderCodes'] = (reply, view) =>
    pages.render(reply, 'recovery-codes', { codes: view.codes, next: view.next, notice: view.notice }, { locale: view.locale })

  const flowEnrol = (flow: SignInFlow, enrolment: TotpEnrolment | undefined, error?: PageMessage): EnrolView => ({
    hidden: flow.hidden,
    locale: flow.locale,
    confirmAction: `${flow.base}/enrol`,
    restartAction: `${flow.base}/enrol`,
    enrolment,
    required: true,
    error,
  })

  /** The pending user, still there and enabled; undefined sends the person back to the login form. */
  const pendingUser = async (flow: SignInFlow): Promise<{ user: User; amr: AuthMethod[] } | undefined> => {
    if (flow.pending === null) return undefined
    const user = await deps.users.findById(flow.pending.userId)
    if (!user || user.disabledAt !== null) return undefined
    return { user, amr: flow.pending.amr }
  }

  /**
   * The sign-in is complete, every factor it needed given: only now do the username's failures
   * (wrong passwords and wrong codes alike) start again, and the audit log says signin_succeeded.
   */
  const completed = (request: FastifyRequest, user: User, amr: readonly AuthMethod[]) =>
    signInSucceeded({ throttle: deps.limits.throttle, audit: request.audit }, { user, ip: request.ip, via: 'login_page', amr })

  const signInAgain = async (reply: FastifyReply, flow: SignInFlow) => {
    await flow.setPending(null)
    return flow.renderLogin(reply, { error: { key: 'login.error.again' } }, 400)
  }

  return {
    renderEnrol,
    renderCodes,
    renderSecondFactor: (reply, flow, userId, extra, status) => renderSecondFactor(reply, flow, userId, extra, status),

    async afterPassword(request, reply, flow, user, required) {
      const secondFactors = deps.secondFactorsFor(request.audit)
      if (required === ACR_PWD) {
        if (!(await flow.signIn(request, reply, user.id, PASSWORD_ONLY))) return flow.renderLogin(reply, { error: WRONG_SIGN_IN, username: user.username }, 401)
        await completed(request, user, PASSWORD_ONLY)
        return flow.proceed(request, reply)
      }
      // Not signed in yet: no session until the second factor is done.
      await flow.setPending({ userId: user.id, amr: PASSWORD_ONLY })
      if (await secondFactors.hasFactor(user.id)) return renderSecondFactor(reply, flow, user.id)
      const enrolment = await secondFactors.beginTotp(user.id, user.username)
      return renderEnrol(reply, flowEnrol(flow, enrolment))
    },

    async secondFactor(request, reply, flow, params) {
      const pending = await pendingUser(flow)
      if (!pending) return signInAgain(reply, flow)
      const { user } = pending
      const secondFactors = deps.secondFactorsFor(request.audit)
      const mode = params.get('method') === 'recovery' ? 'recovery' : 'totp'
      const code = params.get('code') ?? ''
      const checked = await checkSecondFactor(
        { ...deps.limits, secondFactors, audit: request.audit },
        { userId: user.id, username: user.username, ip: request.ip, code: { kind: mode, code } },
      )
      if (checked.outcome === 'throttled' || checked.outcome === 'addressLimited') {
        reply.header('retry-after', String(checked.retryAfterSeconds))
        const error =
          checked.outcome === 'throttled'
            ? { key: 'mfa.error.throttled' }
            : { key: 'mfa.error.addressLimited', values: { wait: { seconds: Math.ceil(checked.retryAfterSeconds / 60) * 60 } } }
        return renderSecondFactor(reply, flow, user.id, { error, mode }, 429)
      }
      if (checked.outcome === 'wrong') {
        const error = mode === 'recovery' ? { key: 'mfa.error.wrongRecovery' } : { key: 'mfa.error.wrong' }
        return renderSecondFactor(reply, flow, user.id, { error, mode }, 401)
      }
      const amr = withSecondFactor(pending.amr, 'otp')
      if (!(await flow.signIn(request, reply, user.id, amr))) return signInAgain(reply, flow)
      await completed(request, user, amr)
      // A recovery code is spent: say so, and how many are left, before going on.
      if (checked.recoveryCodesLeft !== undefined) {
        return pages.render(reply, 'recovery-codes', { left: checked.recoveryCodesLeft, next: flow.next }, { locale: flow.locale })
      }
      return flow.proceed(request, reply)
    },

    async enrol(request, reply, flow, params) {
      const pending = await pendingUser(flow)
      if (!pending) return signInAgain(reply, flow)
      const { user } = pending
      const secondFactors = deps.secondFactorsFor(request.audit)
      // Only a user with no factor at all enrols here: one with a factor must use it (a password
      // alone must never add a factor beside an existing one).
      if (await secondFactors.hasFactor(user.id)) return renderSecondFactor(reply, flow, user.id)
      if (params.get('step') !== 'confirm') {
        return renderEnrol(reply, flowEnrol(flow, await secondFactors.beginTotp(user.id, user.username)))
      }
      const confirmed = await secondFactors.confirmTotp(user.id, (params.get('code') ?? '').slice(0, 64))
      // SecondFactors records mfa_enrolled.
      if (!confirmed) return renderEnrol(reply, flowEnrol(flow, undefined, { key: 'enrol.error.wrong' }), 400)
      const amr = withSecondFactor(pending.amr, 'otp')
      if (!(await flow.signIn(request, reply, user.id, amr))) return signInAgain(reply, flow)
      await completed(request, user, amr)
      return renderCodes(reply, { codes: confirmed.recoveryCodes, next: flow.next, locale: flow.locale })
    },
  }
}
