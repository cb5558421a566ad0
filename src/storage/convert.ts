/** The one mapping between what the dialects return and domain values. */

export function fromDbTime(value: number | string | bigint): number {
  return Number(value)
}

export function toDbBool(value: boolean): number {
  return value ? 1 : 0
}

export function fromDbBool(value: number | boolean | string): boolean {
  return value === 1 || value === true || value === '1'
}

export function toDbList(values: readonly string[]): string {
  return JSON.stringify(values)
}

/**
 * How a user authenticated (RFC 8176 `amr`): `pwd` a password; `otp` an authenticator-app or
 * recovery code; `hwk` a passkey; `mfa` two factors were used. The same union as in
 * oauth/auth-methods.ts (which holds the rules), repeated because storage imports nothing above
 * it; the types are structural, so the two stay interchangeable while they agree.
 */
export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'mfa'

const METHODS: ReadonlySet<string> = new Set<AuthMethod>(['pwd', 'otp', 'hwk', 'mfa'])

/** The stored form: a JSON list. */
export function toDbAmr(amr: readonly AuthMethod[]): string {
  return JSON.stringify(amr)
}

/** From the stored form; null (a row older than second factors) was a password sign-in. */
export function fromDbAmr(value: string | null): AuthMethod[] {
  if (value === null) return ['pwd']
  const parsed: unknown = JSON.parse(value)
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((m) => typeof m === 'string' && METHODS.has(m))) {
    throw new Error('stored amr is not a list of authentication methods')
  }
  return parsed as AuthMethod[]
}

export function fromDbList(value: string): string[] {
  const parsed: unknown = JSON.parse(value)
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
    throw new Error('stored list is not an array of strings')
  }
  return parsed
}
