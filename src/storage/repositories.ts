import type { Kysely } from 'kysely'
import type { Store } from './connect.js'
import type { Database } from './database.js'
import { accessTokenRepository, type AccessTokenRepository } from './access-tokens.js'
import { accountSignInRepository, type AccountSignInRepository } from './account-sign-ins.js'
import { authorizationCodeRepository, type AuthorizationCodeRepository } from './authorization-codes.js'
import {
  authorizationTransactionRepository,
  type AuthorizationTransactionRepository,
} from './authorization-transactions.js'
import type { ClientCache } from './client-cache.js'
import { clientRepository, type ClientRepository } from './clients.js'
import { consentRepository, type ConsentRepository } from './consents.js'
import { deviceAuthorizationRepository, type DeviceAuthorizationRepository } from './device-authorizations.js'
import { factorPresenceRepository, type FactorPresenceRepository } from './factor-presence.js'
import { grantRepository, type GrantRepository } from './grants.js'
import { initialAccessTokenRepository, type InitialAccessTokenRepository } from './initial-access-tokens.js'
import { failureCounterRepository, type FailureCounterRepository } from './failure-counters.js'
import { loginAttemptRepository, type LoginAttemptRepository } from './login-attempts.js'
import { loginSessionRepository, type LoginSessionRepository } from './login-sessions.js'
import { passkeyChallengeRepository, type PasskeyChallengeRepository } from './passkey-challenges.js'
import { passkeyRepository, type PasskeyRepository } from './passkeys.js'
import { refreshTokenRepository, type RefreshTokenRepository } from './refresh-tokens.js'
import { scopeRepository, type ScopeRepository } from './scopes.js'
import { secondFactorRepository, type SecondFactorRepository } from './second-factors.js'
import { userRepository, type UserRepository } from './users.js'

export interface Repositories {
  users: UserRepository
  clients: ClientRepository
  scopes: ScopeRepository
  transactions: AuthorizationTransactionRepository
  sessions: LoginSessionRepository
  consents: ConsentRepository
  codes: AuthorizationCodeRepository
  refreshTokens: RefreshTokenRepository
  accessTokens: AccessTokenRepository
  loginAttempts: LoginAttemptRepository
  failureCounters: FailureCounterRepository
  grants: GrantRepository
  initialAccessTokens: InitialAccessTokenRepository
  devices: DeviceAuthorizationRepository
  accountSignIns: AccountSignInRepository
  /** Whether a user has a second factor (MFA_REQUIRED=enrolled, the password grant). */
  factorPresence: FactorPresenceRepository
  /** Authenticator apps and recovery codes (src/accounts/totp.ts builds on it). */
  secondFactors: SecondFactorRepository
  passkeys: PasskeyRepository
  /** The WebAuthn challenges waiting on transactions, account sign-ins and login sessions. */
  passkeyChallenges: PasskeyChallengeRepository
}

export function repositories(store: Pick<Store, 'db' | 'clientCache'>): Repositories {
  return repositoriesOn(store.db, store.clientCache)
}

/** In a transaction (no `clientCache`), clients are read from it. */
function repositoriesOn(db: Kysely<Database>, clientCache?: ClientCache): Repositories {
  return {
    users: userRepository(db),
    clients: clientRepository(db, clientCache),
    scopes: scopeRepository(db),
    transactions: authorizationTransactionRepository(db),
    sessions: loginSessionRepository(db),
    consents: consentRepository(db),
    codes: authorizationCodeRepository(db),
    refreshTokens: refreshTokenRepository(db),
    accessTokens: accessTokenRepository(db),
    loginAttempts: loginAttemptRepository(db),
    failureCounters: failureCounterRepository(db),
    grants: grantRepository(db),
    initialAccessTokens: initialAccessTokenRepository(db),
    devices: deviceAuthorizationRepository(db),
    accountSignIns: accountSignInRepository(db),
    factorPresence: factorPresenceRepository(db),
    secondFactors: secondFactorRepository(db),
    passkeys: passkeyRepository(db),
    passkeyChallenges: passkeyChallengeRepository(db),
  }
}

/** Runs `work` in one transaction (ADR 0004): all of its writes land, or none. */
export type InTransaction = <T>(work: (repos: Repositories) => Promise<T>) => Promise<T>

export function inTransaction(store: Pick<Store, 'db'>): InTransaction {
  return (work) => store.db.transaction().execute((trx) => work(repositoriesOn(trx)))
}
