import argon2 from 'argon2'

// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS)
}

let dummyHash: Promise<string> | undefined

/**
 * Verifies a password; with no stored hash it does the same argon2 work against a dummy,
 * so the time taken does not reveal whether the username exists.
 */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  if (storedHash === undefined) {
    dummyHash ??= hashPassword('latchkey-dummy-password')
    await argon2.verify(await dummyHash, password)
    return false
  }
  try {
    return await argon2.verify(storedHash, password)
  } catch {
    return false
  }
}
