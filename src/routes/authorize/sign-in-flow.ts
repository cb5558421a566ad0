import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SignedInTransaction, OpenTransaction } from '../../authorization/transactions.js'
import type { Client } from '../../storage/clients.js'
import type { SignInFlow } from '../sign-in/second-step.js'
import type { FormRouteContext } from './form.js'

/** The hidden inputs of every /authorize form: the transaction and its CSRF token. */
export function transactionFields(view: OpenTransaction) {
  return [
    { name: 'transaction', value: view.tx.id },
    { name: 'csrf_token', value: view.csrfToken },
  ]
}

/** An authorization transaction as a sign-in flow: it ends on the consent page or with the code. */
export function authorizeFlow(ctx: FormRouteContext, view: OpenTransaction & { client: Client }): SignInFlow {
  const { auth, cookies, steps } = ctx
  const { tx, csrfToken, client } = view
  let signedIn: SignedInTransaction | undefined
  const hidden = transactionFields(view)
  return {
    base: '/authorize',
    hidden,
    locale: tx.uiLocale,
    clientName: client.name,
    pending: tx.pendingUserId !== null && tx.pendingAmr !== null ? { userId: tx.pendingUserId, amr: tx.pendingAmr } : null,
    setPending: (pending) => auth.transactions.setPending(tx.id, pending),
    async signIn(request: FastifyRequest, reply: FastifyReply, userId, amr) {
      const started = await auth.sessions.start(userId, cookies.sessionId(request), amr)
      if (!started) return false
      cookies.setSession(reply, started.sessionId)
      await auth.transactions.setUser(tx.id, { userId, authTime: started.authTime, amr })
      signedIn = { ...tx, userId, authTime: started.authTime, amr: [...amr], pendingUserId: null, pendingAmr: null }
      return true
    },
    async proceed(request, reply) {
      if (!signedIn) throw new Error('proceed before signIn')
      return steps.continueSignedIn(request, reply, { tx: signedIn, csrfToken, client })
    },
    next: { method: 'post', action: '/authorize/continue', hidden },
    renderLogin: (reply, extra, status) => steps.renderLogin(reply, view, extra, status),
  }
}
