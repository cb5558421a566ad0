/**
 * How a user authenticated (RFC 8176 `amr`) and the class it gives (OIDC Core `acr`).
 * `pwd`: a password; `otp`: an authenticator-app or recovery code; `hwk`: a passkey (a
 * proof of possession of a key, with user verification); `mfa`: two factors were used.
 */
export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'mfa'
// storage/convert.ts keeps its own copy with the stored form (storage imports nothing above it).

export const ACR_PWD = 'urn:latchkey:acr:pwd'
export const ACR_MFA = 'urn:latchkey:acr:mfa'
export type Acr = typeof ACR_PWD | typeof ACR_MFA
export const ACR_VALUES_SUPPORTED: readonly Acr[] = [ACR_PWD, ACR_MFA]

/** A password alone. */
export const PASSWORD_ONLY: readonly AuthMethod[] = ['pwd']

/** The methods of a sign-in by a first factor and then a second one: adds `mfa`. */
export function withSecondFactor(first: readonly AuthMethod[], second: 'otp' | 'hwk'): AuthMethod[] {
  const methods = new Set<AuthMethod>([...first, second])
  if (methods.size > 1) methods.add('mfa')
  return [...methods]
}

/**
 * `urn:latchkey:acr:mfa` for two factors or a passkey (a key held by the user and unlocked by
 * them), else `urn:latchkey:acr:pwd`.
 */
export function acrOf(amr: readonly AuthMethod[]): Acr {
  return amr.includes('mfa') || amr.includes('hwk') ? ACR_MFA : ACR_PWD
}

/** Whether a sign-in with these methods meets the class asked for. */
export function meetsAcr(amr: readonly AuthMethod[], required: Acr): boolean {
  return required === ACR_PWD || acrOf(amr) === ACR_MFA
}

/**
 * OIDC Core §3.1.2.1 `acr_values`: the classes the client will accept, in order of preference.
 * The lowest class it names that latchkey knows is what the sign-in must meet; values latchkey
 * does not know are ignored, and none known asks for nothing.
 */
export function requiredAcrOf(acrValues: string | null | undefined): Acr | undefined {
  if (!acrValues) return undefined
  const asked = acrValues.split(' ').filter((v) => v !== '')
  if (asked.includes(ACR_PWD)) return ACR_PWD
  if (asked.includes(ACR_MFA)) return ACR_MFA
  return undefined
}

/** MFA_REQUIRED: who must use a second factor. */
export const MFA_POLICIES = ['off', 'enrolled', 'all'] as const
export type MfaPolicy = (typeof MFA_POLICIES)[number]

/**
 * The class a sign-in must meet: ACR_MFA when the policy asks it of this user (`all`, or
 * `enrolled` and the user has a factor), when the client demands it (--require-mfa), or when
 * acr_values asks only for it; else ACR_PWD.
 */
export function requiredAcr(input: { policy: MfaPolicy; userHasFactor: boolean; clientRequiresMfa: boolean; acrValues?: string | null | undefined }): Acr {
  if (input.policy === 'all') return ACR_MFA
  if (input.policy === 'enrolled' && input.userHasFactor) return ACR_MFA
  if (input.clientRequiresMfa) return ACR_MFA
  return requiredAcrOf(input.acrValues) ?? ACR_PWD
}
