import { ACR_MFA, acrOf, meetsAcr, requiredAcr, type Acr, type AuthMethod, type MfaPolicy } from '../oauth/auth-methods.js'
import type { Client } from '../storage/clients.js'
import type { FactorPresenceRepository } from '../storage/factor-presence.js'

/** What decides the class a sign-in for a client must meet. */
export interface SignInRequirementInput {
  /** The client the sign-in is for: `--require-mfa` asks for two factors. */
  client: Pick<Client, 'requireMfa'>
  /** OIDC Core §3.1.2.1 acr_values of the request (tx.acrValues); null or undefined: none. */
  acrValues: string | null | undefined
  /** The user signing in: MFA_REQUIRED=enrolled asks a second factor of a user who has one. */
  userId: string
}

export interface SignInRequirementDeps {
  /** MFA_REQUIRED (config.mfaRequired). */
  policy: MfaPolicy
  factors: Pick<FactorPresenceRepository, 'hasFactor'>
}

/**
 * The class (acr) a sign-in must meet: the one place the second-factor policy is evaluated, for
 * /authorize (a session found, a sign-in just made, the consent post), the device flow and the
 * password grant. The user's factors are looked up only when nothing else already asks for
 * two factors.
 */
export async function requiredAcrFor(deps: SignInRequirementDeps, input: SignInRequirementInput): Promise<Acr> {
  const clientRequiresMfa = input.client.requireMfa === true
  const without = requiredAcr({ policy: deps.policy, userHasFactor: false, clientRequiresMfa, acrValues: input.acrValues })
  if (without !== requiredAcr({ policy: deps.policy, userHasFactor: true, clientRequiresMfa, acrValues: input.acrValues })) {
    return requiredAcr({ policy: deps.policy, userHasFactor: await deps.factors.hasFactor(input.userId), clientRequiresMfa, acrValues: input.acrValues })
  }
  return without
}

/** Bound to the configuration and repositories, as /authorize and the grants use it. */
export interface SignInRequirements {
  /** The class the sign-in must meet (see requiredAcrFor). */
  requiredFor(input: SignInRequirementInput): Promise<Acr>
  /** Whether a sign-in made with `amr` meets what is required for this client, request and user. */
  isMetBy(amr: readonly AuthMethod[], input: SignInRequirementInput): Promise<boolean>
}

export function signInRequirements(deps: SignInRequirementDeps): SignInRequirements {
  return {
    requiredFor: (input) => requiredAcrFor(deps, input),
    async isMetBy(amr, input) {
      // Two factors (or a passkey) meet every class: nothing to look up.
      if (acrOf(amr) === ACR_MFA) return true
      return meetsAcr(amr, await requiredAcrFor(deps, input))
    },
  }
}
