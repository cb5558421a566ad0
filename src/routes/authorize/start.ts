import type { FastifyRequest } from 'fastify'
import type { Authorization } from '../../authorization/index.js'
import { TooManyTransactionsError, type NewTransaction, type OpenTransaction } from '../../authorization/transactions.js'

/**
 * Opens an authorization transaction (GET /authorize, or a user code entered at /device). A
 * refusal by the per-address cap goes to the audit log; the error handler shows its page and
 * Retry-After.
 */
export function startTransaction(auth: Authorization, request: FastifyRequest, input: NewTransaction): Promise<OpenTransaction> {
  return auth.transactions.start(input).catch((error: unknown) => {
    if (error instanceof TooManyTransactionsError) {
      request.audit.record({ event: 'authorize_throttled', limit: 'open_transactions', retryAfterSeconds: error.retryAfterSeconds ?? 0 })
    }
    throw error
  })
}
