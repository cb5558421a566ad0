import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { InitialAccessTokenRepository } from '../storage/initial-access-tokens.js'
import { AdminError } from './admin-error.js'
import { iso } from './paging.js'

export const DEFAULT_REGISTRATION_TOKEN_SECONDS = 86_400
export const MAX_REGISTRATION_TOKEN_SECONDS = 30 * 86_400

export interface CreatedRegistrationToken {
  token: string
  expires_at: string
}

/**
 * An initial access token for REGISTRATION=token (RFC 7591 §3): random (256 bits), shown once,
 * stored only as its SHA-256 hash, good for one registration until it expires.
 */
export async function createRegistrationToken(
  deps: { initialAccessTokens: InitialAccessTokenRepository; clock: Clock; audit: AuditLog },
  input: { expiresIn?: string | undefined },
): Promise<CreatedRegistrationToken> {
  const raw = input.expiresIn
  const seconds = raw === undefined ? DEFAULT_REGISTRATION_TOKEN_SECONDS : /^\d{1,8}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > MAX_REGISTRATION_TOKEN_SECONDS) {
    throw new AdminError(`--expires-in must be an integer number of seconds from 60 to ${MAX_REGISTRATION_TOKEN_SECONDS}`)
  }
  const token = randomToken(32)
  const now = deps.clock.now()
  const expiresAt = now + seconds * 1000
  await deps.initialAccessTokens.create({ hash: sha256Hex(token), createdAt: now, expiresAt })
  deps.audit.record({ event: 'registration_token_created', expiresAt: iso(expiresAt) })
  return { token, expires_at: iso(expiresAt) }
}
