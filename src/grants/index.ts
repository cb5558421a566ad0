import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenIssuer } from '../tokens/access-token.js'
import { authorizationCodeGrant } from './authorization-code.js'
import type { Grant } from './grant.js'
import { refreshTokenGrant } from './refresh-token.js'

/** The grant types /token serves, by grant_type. */
export function grantRegistry(deps: {
  config: Config
  repos: Repositories
  issuer: AccessTokenIssuer
  clock: Clock
}): Map<string, Grant> {
  const grants: Grant[] = [
    authorizationCodeGrant({
      codes: deps.repos.codes,
      issuer: deps.issuer,
      clock: deps.clock,
      pkceRequired: deps.config.pkceRequired,
      refreshTokenTtl: deps.config.refreshTokenTtl,
      refreshTokenMaxTtl: deps.config.refreshTokenMaxTtl,
    }),
    refreshTokenGrant({
      refreshTokens: deps.repos.refreshTokens,
      issuer: deps.issuer,
      clock: deps.clock,
      refreshTokenTtl: deps.config.refreshTokenTtl,
      refreshTokenMaxTtl: deps.config.refreshTokenMaxTtl,
    }),
  ]
  return new Map(grants.map((grant) => [grant.type, grant]))
}
