import type { SignInChecker } from '../accounts/credentials.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Repositories } from '../storage/repositories.js'
import type { AccessTokenSigner } from '../tokens/access-token.js'
import type { IdTokenSigner } from '../tokens/id-token.js'
import { tokenResponses } from '../tokens/token-response.js'
import { authorizationCodeDefinition } from './authorization-code.js'
import { clientCredentialsDefinition } from './client-credentials.js'
import { deviceCodeDefinition } from './device-code.js'
import type { Grant, GrantDefinition, GrantDeps } from './grant.js'
import { passwordDefinition } from './password.js'
import { refreshTokenDefinition } from './refresh-token.js'
import type { SignInRecheck } from './sign-in-recheck.js'

/**
 * The one list of grant types: /token serves these, discovery advertises them, and client
 * registration accepts them, in this order. A new grant is one definition added here.
 */
export const BUILT_IN_GRANTS: readonly GrantDefinition[] = [
  authorizationCodeDefinition,
  refreshTokenDefinition,
  clientCredentialsDefinition,
  passwordDefinition,
  deviceCodeDefinition,
]

/** The grants /token serves, by grant_type, sharing one way of issuing tokens. */
export function grantRegistry(
  deps: { config: Config; repos: Repositories; accessTokens: AccessTokenSigner; idTokens: IdTokenSigner; signIns: SignInChecker; requirements: SignInRecheck; clock: Clock },
  definitions: readonly GrantDefinition[] = BUILT_IN_GRANTS,
): Map<string, Grant> {
  const { config, repos, clock } = deps
  const tokens = tokenResponses({
    accessTokens: deps.accessTokens,
    idTokens: deps.idTokens,
    codes: repos.codes,
    refreshTokens: repos.refreshTokens,
    users: repos.users,
    clock,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    refreshTokenMaxTtlSeconds: config.refreshTokenMaxTtlSeconds,
  })
  const grantDeps: GrantDeps = { config, repos, tokens, signIns: deps.signIns, requirements: deps.requirements, clock }
  const grants = new Map<string, Grant>()
  for (const definition of definitions) {
    if (grants.has(definition.type)) throw new Error(`grant_type "${definition.type}" is defined twice`)
    const handler = definition.create(grantDeps)
    grants.set(definition.type, {
      type: definition.type,
      confidentialOnly: definition.confidentialOnly,
      parameters: definition.parameters,
      handle: (req, client) => handler.handle(req, client),
    })
  }
  return grants
}
