import { randomInt } from 'node:crypto'
import { sha256Hex } from './secrets.js'

/** RFC 8628 §3.4: the grant type the device polls /token with. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/**
 * RFC 8628 §6.1: user codes from 20 upper-case consonants (the RFC's example alphabet): no
 * vowels, so no words are spelt by chance, and no digits, so no 0/O or 1/I look-alikes. Typed
 * case-insensitively, with or without the hyphen or spaces.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
export const USER_CODE_LENGTH = 8

/** RFC 8628 §3.2 expires_in: how long the device code and user code live. */
export const DEVICE_AUTHORIZATION_TTL_S = 600
/** RFC 8628 §3.2 interval: the polling interval a device starts with (the RFC's default). */
export const POLLING_INTERVAL_S = 5
/** RFC 8628 §3.5: slow_down adds 5 seconds to the interval, for this and every later poll. */
export const SLOW_DOWN_STEP_S = 5

/** A new user code: 8 characters drawn uniformly (crypto.randomInt) from the alphabet. */
export function newUserCode(): string {
  let code = ''
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]
  return code
}

/** What a person typed, as the stored form: upper case, hyphens and spaces dropped; undefined when it cannot be a code. */
export function normalizeUserCode(input: string): string | undefined {
  if (input.length > 64) return undefined
  const code = input.toUpperCase().replace(/[\s-]/g, '')
  if (code.length !== USER_CODE_LENGTH) return undefined
  for (const char of code) if (!USER_CODE_ALPHABET.includes(char)) return undefined
  return code
}

/** How a user code is shown: two groups of four, `BCDF-GHJK` (RFC 8628 §6.1: easier to read and type). */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`
}

/**
 * Stored as SHA-256 of the normalized code, never in the clear. Unsalted and unkeyed: a user
 * code holds only ~34.6 bits (20^8), so anyone who can read device_authorizations can recover a
 * live code by trying all 2.56e10 in minutes on a GPU, and approve that device with their own
 * account during its 10-minute life. latchkey has no server-side secret to key an HMAC with
 * (signing keys are for signing), and reading the database already gives far more. Device codes
 * (256 random bits) are safe as plain SHA-256.
 */
export function userCodeHash(normalized: string): string {
  return sha256Hex(`user-code:${normalized}`)
}
