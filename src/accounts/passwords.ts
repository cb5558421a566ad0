import argon2 from 'argon2'

/** Hashes and checks passwords; built once with its cost parameters and passed where needed. */
export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * With no stored hash it does the same work against a dummy hash of its own parameters, so
   * the time taken does not reveal whether the username exists.
   */
  verify(storedHash: string | undefined, password: string): Promise<boolean>
}

/** argon2id cost parameters: memory in KiB, iterations, lanes. */
export interface Argon2Costs {
  memoryCost: number
  timeCost: number
  parallelism: number
}

// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
export const PRODUCTION_ARGON2_COSTS: Argon2Costs = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

export function argon2idHasher(costs: Argon2Costs = PRODUCTION_ARGON2_COSTS): PasswordHasher {
  const options = { ...costs, type: argon2.argon2id } as const
  const hash = (password: string) => argon2.hash(password, options)
  let dummyHash: Promise<string> | undefined
  return {
    hash,
    async verify(storedHash, password) {
      if (storedHash === undefined) {
        dummyHash ??= hash('latchkey-dummy-password')
        await argon2.verify(await dummyHash, password)
        return false
      }
      try {
        return await argon2.verify(storedHash, password)
      } catch {
        return false
      }
    },
  }
}

/** The hasher the server and the CLI use. */
export const productionPasswords: PasswordHasher = argon2idHasher()
