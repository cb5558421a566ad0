import type { FastifyRequest } from 'fastify'
import type { Authorization } from '../../authorization/index.js'
import type { Clock } from '../../clock.js'
import type { Params } from '../../oauth/params.js'
import type { AuthorizationTransaction } from '../../storage/authorization-transactions.js'
import type { Repositories } from '../../storage/repositories.js'
import type { BrowserCookies } from '../browser-cookies.js'
import type { SecondStep } from '../sign-in/second-step.js'
import type { DeviceSteps } from './device.js'
import type { AuthorizeSteps } from './steps.js'

/** What the login and consent form handlers share. */
export interface FormRouteContext {
  auth: Authorization
  cookies: BrowserCookies
  steps: AuthorizeSteps
  /** How a device's authorization ends (RFC 8628 §3.3). */
  device: DeviceSteps
  repos: Repositories
  clock: Clock
  routeConfig: { errorFormat: 'authorize' }
  /** The second factor after the password (second-step.ts). */
  secondStep: SecondStep
}

/** The transaction a posted form names, checked against this browser's cookie and CSRF token. */
export async function formTransaction(
  ctx: Pick<FormRouteContext, 'auth' | 'cookies'>,
  request: FastifyRequest,
  params: Params,
): Promise<{ tx: AuthorizationTransaction; csrfToken: string }> {
  const csrfToken = params.get('csrf_token')
  const tx = await ctx.auth.transactions.load({
    transactionId: params.get('transaction'),
    csrfToken,
    browserId: ctx.cookies.existingBrowserId(request),
  })
  // load() refuses a form without a matching token, so it is there.
  return { tx, csrfToken: csrfToken as string }
}
