import { calculateJwkThumbprint, type JWK } from 'jose'

export type KeyStatus = 'next' | 'current' | 'previous' | 'retired'
const STATUSES: readonly KeyStatus[] = ['next', 'current', 'previous', 'retired']

/** What a file in KEYS_DIR holds. */
export interface KeyFile {
  kid: string
  alg: 'RS256'
  status: KeyStatus
  created_at: string
  private_jwk: JWK
}

export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

const MIN_MODULUS_BITS = 2048

/** Validates a parsed key file; the kid must be the RFC 7638 thumbprint of its key. */
export async function parseKeyFile(path: string, text: string): Promise<KeyFile> {
  const fail = (why: string): never => {
    throw new KeyFileError(`KEYS_DIR: ${path} is not a valid key file (${why}); fix or remove it`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return fail('not JSON')
  }
  if (typeof data !== 'object' || data === null) return fail('not a JSON object')
  const file = data as Partial<KeyFile>
  if (typeof file.kid !== 'string' || file.kid === '') return fail('no kid')
  if (file.alg !== 'RS256') return fail('alg is not RS256')
  if (!STATUSES.includes(file.status as KeyStatus)) return fail('unknown status')
  if (typeof file.created_at !== 'string' || Number.isNaN(Date.parse(file.created_at))) return fail('bad created_at')
  const jwk = file.private_jwk
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'RSA') return fail('private_jwk is not an RSA key')
  for (const member of ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
    if (typeof jwk[member] !== 'string') return fail(`private_jwk has no ${member}`)
  }
  if (Buffer.from(jwk.n as string, 'base64url').length * 8 < MIN_MODULUS_BITS) return fail('key shorter than 2048 bits')
  const thumbprint = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e } as JWK, 'sha256')
  if (thumbprint !== file.kid) return fail('kid does not match the key thumbprint')
  return file as KeyFile
}
