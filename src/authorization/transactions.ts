import type { AuthMethod } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { clientNetwork } from '../network.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationTransaction, AuthorizationTransactionRepository } from '../storage/authorization-transactions.js'
import type { OpenCount } from '../storage/open-count.js'
import type { AuthorizationGrant } from './code-issuance.js'

export const TRANSACTION_TTL_MS = 10 * 60 * 1000

/**
 * The open transactions (neither completed nor expired) one client network may hold. Anyone who
 * knows a public client_id and redirect URI can open one, so without a cap one address could
 * grow the table without bound. 1000 per transaction lifetime (10 minutes) is 100 new sign-ins a
 * minute, sustained, from one address: an office of several hundred people behind one NAT
 * address, each opening a few sign-in pages, stays far below it; a finished sign-in stops
 * counting at once. The bound it gives: about 1000 rows of at most ~7 KiB per address, gone a
 * purge after they expire.
 */
export const MAX_OPEN_TRANSACTIONS_PER_ADDRESS = 1000

/** Too many open transactions from one address: 429 with Retry-After, nothing stored. */
export class TooManyTransactionsError extends OAuthError {
  constructor(retryAfterSeconds: number) {
    super('temporarily_unavailable', 'too many sign-in requests from this network; try again later', { status: 429, retryAfterSeconds })
    this.name = 'TooManyTransactionsError'
  }
}

/** A transaction and the CSRF token its forms carry (only its hash is stored). */
export interface OpenTransaction {
  tx: AuthorizationTransaction
  csrfToken: string
}

/** A transaction whose user is known. */
export type SignedInTransaction = AuthorizationTransaction & { userId: string; authTime: number; amr: AuthMethod[] }

/** The transaction with its sign-in, if it has one (userId, authTime and amr all set). */
export function signedInTransaction(tx: AuthorizationTransaction): SignedInTransaction | undefined {
  const { userId, authTime, amr } = tx
  return userId !== null && authTime !== null && amr !== null ? { ...tx, userId, authTime, amr } : undefined
}

export interface NewTransaction {
  grant: AuthorizationGrant
  /** The browser cookie the transaction is bound to. */
  browserId: string
  forceConsent: boolean
  /** The user of a login session that already satisfies the request, and how they signed in. */
  signedIn: { userId: string; authTime: number; amr: readonly AuthMethod[] } | undefined
  /** OIDC Core §3.1.2.1 acr_values as requested (space-separated); undefined when absent. */
  acrValues?: string | undefined
  loginHint: string | undefined
  maxAgeSeconds: number | undefined
  /** The pages' language, chosen from ui_locales; undefined: each request's Accept-Language. */
  uiLocale?: string | undefined
  /** The client's IP address, counted as its network (IPv6: the /64) against the cap. */
  clientAddress: string
  /** The device authorization the verification page opened it for (RFC 8628 §3.3). */
  deviceAuthorizationId?: string | undefined
}

/** What a login or consent form presents. */
export interface PresentedForm {
  transactionId: string | undefined
  csrfToken: string | undefined
  /** The browser cookie sent with the form, if well-formed. */
  browserId: string | undefined
}

export interface AuthorizationTransactions {
  /**
   * Stores a new transaction (the first GET of /authorize); TooManyTransactionsError, and
   * nothing stored, when the address already holds MAX_OPEN_TRANSACTIONS_PER_ADDRESS.
   */
  start(input: NewTransaction): Promise<OpenTransaction>
  /**
   * The transaction a form names, if this browser started it and the CSRF token matches:
   * otherwise 403, which also stops login CSRF. Expired or finished transactions are refused.
   */
  load(form: PresentedForm): Promise<AuthorizationTransaction>
  /**
   * Records who signed in for the transaction and how (clearing a pending sign-in), or forgets
   * it (null: switch user, max_age, a sign-in too weak for the request).
   */
  setUser(id: string, user: { userId: string; authTime: number; amr: readonly AuthMethod[] } | null): Promise<void>
  /**
   * The first factor was right and a second one is required: records the user as pending (not
   * signed in: the transaction's user is cleared), or forgets it (null).
   */
  setPending(id: string, pending: { userId: string; amr: readonly AuthMethod[] } | null): Promise<void>
  /** Stores (or, with null, clears) the WebAuthn challenge of the ceremony in progress. */
  setPasskeyChallenge(id: string, challenge: string | null): Promise<void>
  /** The stored WebAuthn challenge, cleared atomically (single use); null when none. */
  takePasskeyChallenge(id: string): Promise<string | null>
  /** Marks it finished; a second submit of the same form is refused. */
  complete(id: string): Promise<void>
}

/**
 * TooManyTransactionsError when an address already holds `maxOpen` open rows (transactions or
 * account sign-ins), with Retry-After until the first of them expires.
 */
export function refuseOverCap(open: OpenCount, now: number, maxOpen: number): void {
  if (open.count < maxOpen) return
  const waitMs = (open.firstExpiresAt ?? now + TRANSACTION_TTL_MS) - now
  throw new TooManyTransactionsError(Math.max(1, Math.ceil(waitMs / 1000)))
}

export function authorizationTransactions(deps: {
  transactions: AuthorizationTransactionRepository
  clock: Clock
  /** The cap; MAX_OPEN_TRANSACTIONS_PER_ADDRESS unless a test lowers it. */
  maxOpenPerAddress?: number | undefined
}): AuthorizationTransactions {
  const maxOpen = deps.maxOpenPerAddress ?? MAX_OPEN_TRANSACTIONS_PER_ADDRESS
  return {
    async start(input) {
      const now = deps.clock.now()
      const address = clientNetwork(input.clientAddress)
      // Counted, then inserted: concurrent requests may overshoot by as many as run at once.
      refuseOverCap(await deps.transactions.countOpen(address, now, maxOpen), now, maxOpen)
      const csrfToken = randomToken(32)
      const tx: AuthorizationTransaction = {
        ...input.grant,
        id: randomToken(16),
        browserHash: sha256Hex(input.browserId),
        csrfHash: sha256Hex(csrfToken),
        forceConsent: input.forceConsent,
        userId: input.signedIn?.userId ?? null,
        authTime: input.signedIn?.authTime ?? null,
        amr: input.signedIn ? [...input.signedIn.amr] : null,
        acrValues: input.acrValues ?? null,
        pendingUserId: null,
        pendingAmr: null,
        passkeyChallenge: null,
        createdAt: now,
        expiresAt: now + TRANSACTION_TTL_MS,
        completedAt: null,
        loginHint: input.loginHint ?? null,
        maxAgeSeconds: input.maxAgeSeconds ?? null,
        uiLocale: input.uiLocale ?? null,
        address,
        deviceAuthorizationId: input.deviceAuthorizationId ?? null,
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
        throw new OAuthError('invalid_request', 'this form was not sent from the browser that started the request', { status: 403, reason: 'wrong_browser' })
      }
      if (tx.expiresAt <= deps.clock.now()) throw new OAuthError('invalid_request', 'this sign-in request has expired', { reason: 'expired' })
      if (tx.completedAt !== null) throw alreadyCompleted()
      return tx
    },
    setUser(id, user) {
      return deps.transactions.setUser(id, user)
    },
    setPending(id, pending) {
      return deps.transactions.setPending(id, pending)
    },
    setPasskeyChallenge(id, challenge) {
      return deps.transactions.setPasskeyChallenge(id, challenge)
    },
    takePasskeyChallenge(id) {
      return deps.transactions.takePasskeyChallenge(id)
    },
    async complete(id) {
      if (!(await deps.transactions.complete(id, deps.clock.now()))) throw alreadyCompleted()
    },
  }
}

function alreadyCompleted(): OAuthError {
  return new OAuthError('invalid_request', 'this sign-in request has already been completed', { reason: 'completed' })
}

/** The part of a transaction that becomes the code. */
export function grantOf(tx: AuthorizationTransaction): AuthorizationGrant {
  const { clientId, redirectUri, state, scopes, resource, codeChallenge, codeChallengeMethod, nonce } = tx
  return { clientId, redirectUri, state, scopes, resource, codeChallenge, codeChallengeMethod, nonce }
}
