import { randomUUID } from 'node:crypto'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { RefreshToken, RefreshTokenFamily } from '../storage/refresh-tokens.js'

export interface NewRefreshToken {
  /** The value for the client; only its hash is stored. */
  token: string
  record: RefreshToken
}

/** A family for a new authorization that yields refresh tokens. */
export function newFamily(input: Omit<RefreshTokenFamily, 'id' | 'revokedAt'>): RefreshTokenFamily {
  return { ...input, id: randomUUID(), revokedAt: null }
}

/** Expiry slides by `ttlSeconds` from now, never past the family's created_at + `maxTtlSeconds`. */
export function newRefreshToken(
  family: RefreshTokenFamily,
  now: number,
  lifetimes: { ttlSeconds: number; maxTtlSeconds: number },
): NewRefreshToken {
  const token = randomToken(32)
  const expiresAt = Math.min(now + lifetimes.ttlSeconds * 1000, family.createdAt + lifetimes.maxTtlSeconds * 1000)
  return {
    token,
    record: { tokenHash: sha256Hex(token), familyId: family.id, createdAt: now, expiresAt, rotatedAt: null },
  }
}
