import { PASSWORD_ONLY, type AuthMethod } from '../oauth/auth-methods.js'
import type { Client } from '../storage/clients.js'

/**
 * What the grants ask of the sign-in requirement: src/authorization/sign-in-requirement.ts's
 * SignInRequirements (auth.requirements), handed in by app.ts.
 */
export interface SignInRecheck {
  isMetBy(amr: readonly AuthMethod[], input: { client: Pick<Client, 'requireMfa'>; acrValues: string | null; userId: string }): Promise<boolean>
}

export const SIGN_IN_TOO_WEAK = "this sign-in no longer meets the client's requirement; sign in again"

/**
 * Whether the sign-in behind a code or refresh-token family still meets what the client requires
 * now: `client update --require-mfa`, MFA_REQUIRED=all or a second factor enrolled since then
 * make a password-only sign-in too weak. acr_values belong to the request that was already
 * honoured when the code was issued, so they are not asked again. A row from before second
 * factors (amr null) reads as a password sign-in.
 */
export function stillMeetsRequirement(recheck: SignInRecheck, client: Client, userId: string, amr: readonly AuthMethod[] | null): Promise<boolean> {
  return recheck.isMetBy(amr ?? PASSWORD_ONLY, { client, acrValues: null, userId })
}
