import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** A random value of `bytes` bytes, base64url; 32 bytes = 256 bits (OAuth 2.1 §7.7 asks ≥ 128). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex')
}

/** The SHA-256 digest of a presented secret, to compare with stored hashes (digestMatchesHash). */
export function sha256Digest(presented: string): Buffer {
  return createHash('sha256').update(presented, 'utf8').digest()
}

/** Compares a SHA-256 digest with a stored SHA-256 hex digest in constant time. */
export function digestMatchesHash(digest: Buffer, storedHex: string): boolean {
  const expected = Buffer.from(storedHex, 'hex')
  return expected.length === digest.length && timingSafeEqual(expected, digest)
}

/** Compares a presented secret with a stored SHA-256 hex digest in constant time. */
export function secretMatchesHash(presented: string, storedHex: string): boolean {
  return digestMatchesHash(sha256Digest(presented), storedHex)
}
