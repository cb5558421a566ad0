import type { MfaPolicy } from '../oauth/auth-methods.js'
import type { Clock } from '../clock.js'
import type { Repositories } from '../storage/repositories.js'
import { codeIssuance, type CodeIssuance } from './code-issuance.js'
import { consentPolicy, type ConsentPolicy } from './consent.js'
import { deviceAuthorizations, type DeviceAuthorizations } from './device.js'
import { loginSessions, type LoginSessions } from './login-session.js'
import { signInRequirements, type SignInRequirements } from './sign-in-requirement.js'
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
  /** RFC 8628: device authorizations, from /device_authorization to the verification page. */
  devices: DeviceAuthorizations
  /** The class (acr) a sign-in must meet: MFA_REQUIRED, the client's --require-mfa, acr_values. */
  requirements: SignInRequirements
}

export function authorization(deps: {
  repos: Pick<Repositories, 'transactions' | 'consents' | 'sessions' | 'codes' | 'devices' | 'failureCounters' | 'factorPresence'>
  clock: Clock
  /** MFA_REQUIRED (config.mfaRequired). */
  mfaPolicy: MfaPolicy
  issuer: string
  codeTtlSeconds: number
  maxOpenTransactionsPerAddress?: number | undefined
  maxOpenDeviceAuthorizationsPerAddress?: number | undefined
  maxUserCodeFailuresGlobal?: number | undefined
}): Authorization {
  const { repos, clock } = deps
  return {
    transactions: authorizationTransactions({ transactions: repos.transactions, clock, maxOpenPerAddress: deps.maxOpenTransactionsPerAddress }),
    consent: consentPolicy({ consents: repos.consents, clock }),
    sessions: loginSessions({ sessions: repos.sessions, clock }),
    codes: codeIssuance({ codes: repos.codes, clock, codeTtlSeconds: deps.codeTtlSeconds, issuer: deps.issuer }),
    requirements: signInRequirements({ policy: deps.mfaPolicy, factors: repos.factorPresence }),
    devices: deviceAuthorizations({ devices: repos.devices, counters: repos.failureCounters, clock, maxOpenPerAddress: deps.maxOpenDeviceAuthorizationsPerAddress, maxFailuresGlobal: deps.maxUserCodeFailuresGlobal }),
  }
}
