import { loginThrottle } from '../accounts/login-throttle.js'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import type { IdTokenSigner } from '../tokens/id-token.js'
import { authorizationCodeGrant } from './authorization-code.js'
import { clientCredentialsGrant } from './client-credentials.js'
import type { Grant } from './grant.js'
import { passwordGrant } from './password.js'
import { refreshTokenGrant } from './refresh-token.js'

/** The grant types /token serves, by grant_type. */
export function grantRegistry(deps: {
  config: Config
  repos: Repositories
  accessTokens: AccessTokenSigner
  idTokens: IdTokenSigner
  passwords: PasswordHasher
  clock: Clock
}): Map<string, Grant> {
  const grants: Grant[] = [
    authorizationCodeGrant({
      codes: deps.repos.codes,
      accessTokens: deps.accessTokens,
      idTokens: deps.idTokens,
      clock: deps.clock,
      pkceRequired: deps.config.pkceRequired,
      refreshTokenTtlSeconds: deps.config.refreshTokenTtlSeconds,
      refreshTokenMaxTtlSeconds: deps.config.refreshTokenMaxTtlSeconds,
    }),
    refreshTokenGrant({
      refreshTokens: deps.repos.refreshTokens,
      accessTokens: deps.accessTokens,
      idTokens: deps.idTokens,
      clock: deps.clock,
      refreshTokenTtlSeconds: deps.config.refreshTokenTtlSeconds,
      refreshTokenMaxTtlSeconds: deps.config.refreshTokenMaxTtlSeconds,
    }),
    clientCredentialsGrant({ accessTokens: deps.accessTokens, defaultAudience: deps.config.defaultAudience }),
    passwordGrant({
      users: deps.repos.users,
      throttle: loginThrottle({ attempts: deps.repos.loginAttempts, clock: deps.clock }),
      passwords: deps.passwords,
      refreshTokens: deps.repos.refreshTokens,
      accessTokens: deps.accessTokens,
      clock: deps.clock,
      defaultAudience: deps.config.defaultAudience,
      refreshTokenTtlSeconds: deps.config.refreshTokenTtlSeconds,
      refreshTokenMaxTtlSeconds: deps.config.refreshTokenMaxTtlSeconds,
    }),
  ]
  return new Map(grants.map((grant) => [grant.type, grant]))
}
