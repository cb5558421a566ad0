import type { Store } from './connect.js'
import { accessTokenRepository, type AccessTokenRepository } from './access-tokens.js'
import { authorizationCodeRepository, type AuthorizationCodeRepository } from './authorization-codes.js'
import {
  authorizationTransactionRepository,
  type AuthorizationTransactionRepository,
} from './authorization-transactions.js'
import { clientRepository, type ClientRepository } from './clients.js'
import { consentRepository, type ConsentRepository } from './consents.js'
import { grantRepository, type GrantRepository } from './grants.js'
import { failureCounterRepository, type FailureCounterRepository } from './failure-counters.js'
import { loginAttemptRepository, type LoginAttemptRepository } from './login-attempts.js'
import { loginSessionRepository, type LoginSessionRepository } from './login-sessions.js'
import { refreshTokenRepository, type RefreshTokenRepository } from './refresh-tokens.js'
import { scopeRepository, type ScopeRepository } from './scopes.js'
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
}

export function repositories(store: Store): Repositories {
  return {
    users: userRepository(store.db),
    clients: clientRepository(store.db),
    scopes: scopeRepository(store.db),
    transactions: authorizationTransactionRepository(store.db),
    sessions: loginSessionRepository(store.db),
    consents: consentRepository(store.db),
    codes: authorizationCodeRepository(store.db),
    refreshTokens: refreshTokenRepository(store.db),
    accessTokens: accessTokenRepository(store.db),
    loginAttempts: loginAttemptRepository(store.db),
    failureCounters: failureCounterRepository(store.db),
    grants: grantRepository(store.db),
  }
}
