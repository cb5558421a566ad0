import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** A random value of `bytes` bytes, base64url; 32 bytes = 256 bits (OAuth 2.1 §7.7 asks ≥ 128). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex')
}

/** Compares a presented secret with a stored SHA-256 hex digest in constant time. */
export function secretMatchesHash(presented: string, storedHex: string): boolean {
  const expected = Buffer.from(storedHex, 'hex')
  const actual = createHash('sha256').update(presented, 'utf8').digest()
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
