import type { Clock } from '../clock.js'
import type { Repositories } from '../storage/repositories.js'
import { codeIssuance, type CodeIssuance } from './code-issuance.js'
import { consentPolicy, type ConsentPolicy } from './consent.js'
import { loginSessions, type LoginSessions } from './login-session.js'
import { authorizationTransactions, type AuthorizationTransactions } from './transactions.js'

/**
 * The rules of an authorization in progress, free of HTTP: the transaction and its CSRF binding,
 * remembered consent, login sessions and code issuance. /authorize and /logout wire them to
 * pages and cookies; a device verification page or a second-factor step reuses them.
 */
export interface Authorization {
  transactions: AuthorizationTransactions
  consent: ConsentPolicy
  sessions: LoginSessions
  codes: CodeIssuance
}

export function authorization(deps: {
  repos: Pick<Repositories, 'transactions' | 'consents' | 'sessions' | 'codes'>
  clock: Clock
  issuer: string
  codeTtlSeconds: number
  maxOpenTransactionsPerAddress?: number | undefined
}): Authorization {
  const { repos, clock } = deps
  return {
    transactions: authorizationTransactions({ transactions: repos.transactions, clock, maxOpenPerAddress: deps.maxOpenTransactionsPerAddress }),
    consent: consentPolicy({ consents: repos.consents, clock }),
    sessions: loginSessions({ sessions: repos.sessions, clock }),
    codes: codeIssuance({ codes: repos.codes, clock, codeTtlSeconds: deps.codeTtlSeconds, issuer: deps.issuer }),
  }
}
