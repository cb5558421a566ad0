import type { AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { clientNetwork } from '../network.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../oauth/secrets.js'
import type { AccountSignIn, AccountSignInRepository } from '../storage/account-sign-ins.js'
import { MAX_OPEN_TRANSACTIONS_PER_ADDRESS, TRANSACTION_TTL_MS, refuseOverCap, type PresentedForm } from './transactions.js'

/** An account sign-in and the CSRF token its forms carry (only its hash is stored). */
export interface OpenAccountSignIn {
  signIn: AccountSignIn
  csrfToken: string
}

/**
 * The sign-in that leads to /account/security: opened by the page when the browser has no
 * suitable session, bound to the browser and its forms like an authorization transaction
 * (transactions.ts), with the same lifetime and the same cap per address.
 */
export interface AccountSignIns {
  start(input: { browserId: string; clientAddress: string; uiLocale?: string | undefined }): Promise<OpenAccountSignIn>
  /** The sign-in a form names, if this browser opened it and the CSRF token matches: otherwise 403. */
  load(form: PresentedForm): Promise<AccountSignIn>
  setPending(id: string, pending: { userId: string; amr: readonly AuthMethod[] } | null): Promise<void>
  /** Marks it finished; a second submit is refused. */
  complete(id: string): Promise<void>
}

export function accountSignIns(deps: { signIns: AccountSignInRepository; clock: Clock; maxOpenPerAddress?: number | undefined }): AccountSignIns {
  const maxOpen = deps.maxOpenPerAddress ?? MAX_OPEN_TRANSACTIONS_PER_ADDRESS
  return {
    async start(input) {
      const now = deps.clock.now()
      const address = clientNetwork(input.clientAddress)
      // Anyone can open the page: without a cap one address could grow the table without bound.
      refuseOverCap(await deps.signIns.countOpen(address, now, maxOpen), now, maxOpen)
      const csrfToken = randomToken(32)
      const signIn: AccountSignIn = {
        id: randomToken(16),
        browserHash: sha256Hex(input.browserId),
        csrfHash: sha256Hex(csrfToken),
        address,
        uiLocale: input.uiLocale ?? null,
        pendingUserId: null,
        pendingAmr: null,
        passkeyChallenge: null,
        createdAt: now,
        expiresAt: now + TRANSACTION_TTL_MS,
        completedAt: null,
      }
      await deps.signIns.create(signIn)
      return { signIn, csrfToken }
    },
    async load({ transactionId, csrfToken, browserId }) {
      const signIn = transactionId === undefined ? undefined : await deps.signIns.findById(transactionId)
      const bound =
        signIn !== undefined &&
        csrfToken !== undefined &&
        browserId !== undefined &&
        secretMatchesHash(browserId, signIn.browserHash) &&
        secretMatchesHash(csrfToken, signIn.csrfHash)
      if (!bound) throw new OAuthError('invalid_request', 'this form was not sent from the browser that started signing in', { status: 403, reason: 'wrong_browser' })
      if (signIn.expiresAt <= deps.clock.now()) throw new OAuthError('invalid_request', 'this sign-in has expired', { reason: 'expired' })
      if (signIn.completedAt !== null) throw new OAuthError('invalid_request', 'this sign-in has already been completed', { reason: 'completed' })
      return signIn
    },
    setPending(id, pending) {
      return deps.signIns.setPending(id, pending)
    },
    async complete(id) {
      if (!(await deps.signIns.complete(id, deps.clock.now()))) {
        throw new OAuthError('invalid_request', 'this sign-in has already been completed', { reason: 'completed' })
      }
    },
  }
}
