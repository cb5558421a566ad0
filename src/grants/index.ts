import { loginThrottle } from '../accounts/login-throttle.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenIssuer } from '../tokens/access-token.js'
import type { IdTokenIssuer } from '../tokens/id-token.js'
import { authorizationCodeGrant } from './authorization-code.js'
import { clientCredentialsGrant } from './client-credentials.js'
import type { Grant } from './grant.js'
import { passwordGrant } from './password.js'
import { refreshTokenGrant } from './refresh-token.js'

/** The grant types /token serves, by grant_type. */
export function grantRegistry(deps: {
  config: Config
  repos: Repositories
  issuer: AccessTokenIssuer
  idTokens: IdTokenIssuer
  clock: Clock
}): Map<string, Grant> {
  const grants: Grant[] = [
    authorizationCodeGrant({
      codes: deps.repos.codes,
      issuer: deps.issuer,
      idTokens: deps.idTokens,
      clock: deps.clock,
      pkceRequired: deps.config.pkceRequired,
      refreshTokenTtl: deps.config.refreshTokenTtl,
      refreshTokenMaxTtl: deps.config.refreshTokenMaxTtl,
    }),
    refreshTokenGrant({
      refreshTokens: deps.repos.refreshTokens,
      issuer: deps.issuer,
      idTokens: deps.idTokens,
      clock: deps.clock,
      refreshTokenTtl: deps.config.refreshTokenTtl,
      refreshTokenMaxTtl: deps.config.refreshTokenMaxTtl,
    }),
    clientCredentialsGrant({ issuer: deps.issuer, defaultAudience: deps.config.defaultAudience }),
    passwordGrant({
      users: deps.repos.users,
      throttle: loginThrottle({ attempts: deps.repos.loginAttempts, clock: deps.clock }),
      refreshTokens: deps.repos.refreshTokens,
      issuer: deps.issuer,
      clock: deps.clock,
      defaultAudience: deps.config.defaultAudience,
      refreshTokenTtl: deps.config.refreshTokenTtl,
      refreshTokenMaxTtl: deps.config.refreshTokenMaxTtl,
    }),
  ]
  return new Map(grants.map((grant) => [grant.type, grant]))
}
