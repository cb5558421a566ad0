import type { FastifyInstance } from 'fastify'
import type { PasskeyService } from '../../accounts/passkeys.js'
import { findClient } from '../../authorization/request.js'
import { Params } from '../../oauth/params.js'
import { formTransaction, type FormRouteContext } from './form.js'

/** The longest WebAuthn answer read from a form: a credential id (≤ 1023 bytes) and a signature with room to spare. */
export const MAX_CREDENTIAL_JSON = 16 * 1024

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
 * "Sign in with a passkey" on the login page: a discoverable credential, no username.
 * - POST /authorize/passkey/options (the form's transaction and CSRF token): the
 *   PublicKeyCredentialRequestOptions as JSON; the challenge waits on the transaction.
 * - POST /authorize/passkey (a form the script submits, `credential` = the assertion as JSON):
 *   checked, the user signed in (amr hwk), then the flow goes on as after a password (consent,
 *   or the code); a failure shows the login page again with one message, like a wrong password.
 * Both refuse a form from another browser, or without its CSRF token, with 403.
 */
export function passkeyLoginRoute(app: FastifyInstance, ctx: FormRouteContext & { passkeys: PasskeyService }): void {
  const { auth, cookies, steps, repos, passkeys } = ctx

  app.post('/authorize/passkey/options', { config: { errorFormat: 'json' } }, async (request, reply) => {
    const { tx } = await formTransaction(ctx, request, new Params(request.body))
    const options = await passkeys.authenticationOptions(repos.passkeyChallenges.forTransaction(tx.id))
    return reply.send(options)
  })

  app.post('/authorize/passkey', { config: ctx.routeConfig }, async (request, reply) => {
    const params = new Params(request.body)
    const { tx, csrfToken } = await formTransaction(ctx, request, params)
    const client = await findClient(repos.clients, tx.clientId)
    const view = { tx, csrfToken, client }
    const slot = repos.passkeyChallenges.forTransaction(tx.id)
    const checked = await passkeys.authenticate(slot, { response: credentialField(params), ip: request.ip }, request.audit)
    if (checked.outcome === 'addressLimited' || checked.outcome === 'throttled') {
      reply.header('retry-after', String(checked.retryAfterSeconds))
      const wait = { seconds: Math.ceil(checked.retryAfterSeconds / 60) * 60 }
      return steps.renderLogin(reply, view, { error: { key: 'login.error.addressLimited', values: { wait } } }, 429)
    }
    if (checked.outcome === 'failed') {
      request.log.info({ event: 'passkey_refused', reason: checked.reason }, 'passkey sign-in refused')
      return steps.renderLogin(reply, view, { error: { key: 'passkey.error.signIn' } }, 401)
    }
    const { user } = checked
    const started = await auth.sessions.start(user.id, cookies.sessionId(request))
    // Disabled in the meantime: the same answer as any failure.
    if (!started) return steps.renderLogin(reply, view, { error: { key: 'passkey.error.signIn' } }, 401)
    cookies.setSession(reply, started.sessionId)
    await auth.transactions.setUser(tx.id, { userId: user.id, authTime: started.authTime })
    return steps.continueSignedIn(request, reply, { tx: { ...tx, userId: user.id, authTime: started.authTime }, csrfToken, client })
  })
}
