import { calculateJwkThumbprint, type JWK } from 'jose'

export type KeyStatus = 'next' | 'current' | 'previous' | 'retired'

/** What latchkey signs with: RS256 always (ID tokens, OIDC Discovery §3), ES256 and EdDSA for access tokens. */
export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA'
export const SIGNING_ALGS: readonly SigningAlg[] = ['RS256', 'ES256', 'EdDSA']

/**
 * What a file in KEYS_DIR holds. A key's status is not stored: it follows from these times and
 * the clock (see key-timeline.ts), so every instance and the CLI agree, and a key moves from
 * next to current to previous to retired on time whether or not a server is running.
 */
export interface KeyFile {
  kid: string
  alg: SigningAlg
  created_at: string
  /** From when the key signs; until then it is published only (`next`). */
  signs_from: string
  /** When a newer key took over signing; null while nothing has. */
  superseded_at: string | null
  /** When the key stops being published and trusted; null while it is the newest key. */
  retires_at: string | null
  private_jwk: JWK
}

export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

const MIN_MODULUS_BITS = 2048
const PRIVATE_MEMBERS: Record<SigningAlg, { kty: string; crv?: string; members: readonly string[] }> = {
  RS256: { kty: 'RSA', members: ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] },
  ES256: { kty: 'EC', crv: 'P-256', members: ['x', 'y', 'd'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['x', 'd'] },
}

/** The public members of a key, in the form RFC 7638 hashes (and the JWKS publishes). */
export function publicMembers(jwk: JWK): Record<string, string> {
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }
    case 'EC':
      return { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string }
    default:
      return { kty: 'OKP', crv: jwk.crv as string, x: jwk.x as string }
  }
}

export function keyThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicMembers(jwk) as JWK, 'sha256')
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value))
}

/**
 * Validates a parsed key file; the kid must be the RFC 7638 thumbprint of its key. Files written
 * before rotation existed carry a `status` and no times: `current` reads as signing since it was
 * created, `retired` as retired then.
 */
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
  const file = data as Partial<KeyFile> & { status?: unknown }
  if (typeof file.kid !== 'string' || file.kid === '') return fail('no kid')
  const alg = file.alg as SigningAlg
  if (!SIGNING_ALGS.includes(alg)) return fail(`alg is not one of ${SIGNING_ALGS.join(', ')}`)
  if (!isTime(file.created_at)) return fail('bad created_at')
  const legacy = file.signs_from === undefined && typeof file.status === 'string'
  // An old `next` key has no time it starts signing: reading it as signing since created_at would be wrong.
  if (legacy && file.status !== 'current' && file.status !== 'previous' && file.status !== 'retired') return fail(`status "${String(file.status)}" without signs_from; add signs_from`)
  const signsFrom = legacy ? file.created_at : file.signs_from
  if (!isTime(signsFrom)) return fail('bad signs_from')
  const retiresAt = legacy ? (file.status === 'retired' ? file.created_at : null) : (file.retires_at ?? null)
  const supersededAt = legacy ? retiresAt : (file.superseded_at ?? null)
  if (retiresAt !== null && !isTime(retiresAt)) return fail('bad retires_at')
  if (supersededAt !== null && !isTime(supersededAt)) return fail('bad superseded_at')
  const jwk = file.private_jwk
  const shape = PRIVATE_MEMBERS[alg]
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== shape.kty) return fail(`private_jwk is not an ${shape.kty} key`)
  if (shape.crv !== undefined && jwk.crv !== shape.crv) return fail(`private_jwk is not on ${shape.crv}`)
  for (const member of shape.members) {
    if (typeof (jwk as Record<string, unknown>)[member] !== 'string') return fail(`private_jwk has no ${member}`)
  }
  if (alg === 'RS256' && Buffer.from(jwk.n as string, 'base64url').length * 8 < MIN_MODULUS_BITS) return fail('key shorter than 2048 bits')
  if ((await keyThumbprint(jwk)) !== file.kid) return fail('kid does not match the key thumbprint')
  return {
    kid: file.kid,
    alg,
    created_at: file.created_at,
    signs_from: signsFrom,
    superseded_at: supersededAt,
    retires_at: retiresAt,
    private_jwk: jwk,
  }
}
