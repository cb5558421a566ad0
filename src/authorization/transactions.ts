import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationTransaction, AuthorizationTransactionRepository } from '../storage/authorization-transactions.js'
import type { AuthorizationGrant } from './code-issuance.js'

export const TRANSACTION_TTL_MS = 10 * 60 * 1000

/** A transaction and the CSRF token its forms carry (only its hash is stored). */
export interface OpenTransaction {
  tx: AuthorizationTransaction
  csrfToken: string
}

/** A transaction whose user is known. */
export type SignedInTransaction = AuthorizationTransaction & { userId: string; authTime: number }

export interface NewTransaction {
  grant: AuthorizationGrant
  /** The browser cookie the transaction is bound to. */
  browserId: string
  forceConsent: boolean
  /** The user of a login session that already satisfies the request. */
  signedIn: { userId: string; authTime: number } | undefined
  loginHint: string | undefined
  maxAgeSeconds: number | undefined
}

/** What a login or consent form presents. */
export interface PresentedForm {
  transactionId: string | undefined
  csrfToken: string | undefined
  /** The browser cookie sent with the form, if well-formed. */
  browserId: string | undefined
}

export interface AuthorizationTransactions {
  /** Stores a new transaction (the first GET of /authorize). */
  start(input: NewTransaction): Promise<OpenTransaction>
  /**
   * The transaction a form names, if this browser started it and the CSRF token matches:
   * otherwise 403, which also stops login CSRF. Expired or finished transactions are refused.
   */
  load(form: PresentedForm): Promise<AuthorizationTransaction>
  /** Records who signed in for the transaction, or forgets it (null: switch user, max_age). */
  setUser(id: string, user: { userId: string; authTime: number } | null): Promise<void>
  /** Marks it finished; a second submit of the same form is refused. */
  complete(id: string): Promise<void>
}

export function authorizationTransactions(deps: { transactions: AuthorizationTransactionRepository; clock: Clock }): AuthorizationTransactions {
  return {
    async start(input) {
      const csrfToken = randomToken(32)
      const now = deps.clock.now()
      const tx: AuthorizationTransaction = {
        ...input.grant,
        id: randomToken(16),
        browserHash: sha256Hex(input.browserId),
        csrfHash: sha256Hex(csrfToken),
        forceConsent: input.forceConsent,
        userId: input.signedIn?.userId ?? null,
        authTime: input.signedIn?.authTime ?? null,
        createdAt: now,
        expiresAt: now + TRANSACTION_TTL_MS,
        completedAt: null,
        loginHint: input.loginHint ?? null,
        maxAgeSeconds: input.maxAgeSeconds ?? null,
      }
      await deps.transactions.create(tx)
      return { tx, csrfToken }
    },
    async load(form) {
      const { transactionId, csrfToken, browserId } = form
      const tx = transactionId === undefined ? undefined : await deps.transactions.findById(transactionId)
      const bound =
        tx !== undefined &&
        csrfToken !== undefined &&
        browserId !== undefined &&
        secretMatchesHash(browserId, tx.browserHash) &&
        secretMatchesHash(csrfToken, tx.csrfHash)
      if (!bound) {
        throw new OAuthError('invalid_request', 'this form was not sent from the browser that started the request', { status: 403 })
      }
      if (tx.expiresAt <= deps.clock.now()) throw new OAuthError('invalid_request', 'this sign-in request has expired')
      if (tx.completedAt !== null) throw alreadyCompleted()
      return tx
    },
    setUser(id, user) {
      return deps.transactions.setUser(id, user)
    },
    async complete(id) {
      if (!(await deps.transactions.complete(id, deps.clock.now()))) throw alreadyCompleted()
    },
  }
}

function alreadyCompleted(): OAuthError {
  return new OAuthError('invalid_request', 'this sign-in request has already been completed')
}

/** The part of a transaction that becomes the code. */
export function grantOf(tx: AuthorizationTransaction): AuthorizationGrant {
  const { clientId, redirectUri, state, scopes, resource, codeChallenge, codeChallengeMethod, nonce } = tx
  return { clientId, redirectUri, state, scopes, resource, codeChallenge, codeChallengeMethod, nonce }
}
