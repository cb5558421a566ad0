import { argon2idHasher } from '../../src/accounts/passwords.js'

/**
 * argon2id at the lowest costs argon2 accepts: the suite hashes and checks hundreds of
 * passwords, and the production costs are checked once, in test/unit/passwords.test.ts.
 */
export const testPasswords = argon2idHasher({ memoryCost: 8, timeCost: 1, parallelism: 1 })
