import type { webcrypto } from 'node:crypto'
import { importJWK, type CryptoKey, type JWK } from 'jose'
import { BearerError } from './errors.js'
import { fetchJsonResponse, fetchMetadata, type IssuerMetadata } from './metadata.js'

export interface KeySetOptions {
  issuer: string
  /** The algorithms tokens may be signed with (validated by createResourceServer). */
  algorithms: readonly string[]
  /** Skips discovery when given. */
  jwksUri: string | undefined
  /** Least time between two fetches, whatever triggers them (unknown kids, age, failures). */
  cooldownMs: number
  /**
   * Keys older than this are refetched in the background, so a withdrawn key stops working; the
   * JWKS response's own Cache-Control max-age shortens it, never lengthens it.
   */
  maxAgeMs: number
  timeoutMs: number
  clock: () => number
}

/**
 * The issuer's public keys, imported once per fetch and looked up by `kid` and `alg`: each key
 * for its own `alg` only (RFC 8725 §3.1), or, when its JWK names none, for each allowed
 * algorithm its type and curve fit. A token with an unknown kid triggers a refetch, but at
 * most one per cooldown: a flood of made-up kids cannot make us hammer the issuer, and
 * concurrent misses share the one fetch in flight.
 */
export class KeySet {
  /** By kid, then alg. undefined until a JWKS has been loaded once; afterwards a failed refetch keeps the old keys. */
  private keys: Map<string, Map<string, CryptoKey>> | undefined
  private loadedAt = 0
  /** maxAgeMs, or less when the last JWKS response said so. */
  private freshForMs: number
  private lastAttemptAt = -Infinity
  private pending: Promise<void> | undefined
  private lastError: unknown
  private metadata: IssuerMetadata | undefined

  constructor(private readonly options: KeySetOptions) {
    this.freshForMs = options.maxAgeMs
  }

  get introspectionEndpoint(): string | undefined {
    return this.metadata?.introspectionEndpoint
  }

  /**
   * The hot path: a cached key is returned synchronously, without any fetch. A known kid whose
   * key is not for `alg` is refused without a refetch: a kid names one key, whatever is fetched.
   */
  key(kid: string, alg: string): CryptoKey | Promise<CryptoKey> {
    const byAlg = this.keys?.get(kid)
    if (byAlg === undefined) return this.keyAfterRefresh(kid, alg)
    if (this.options.clock() - this.loadedAt > this.freshForMs) void this.refresh()
    return byAlg.get(alg) ?? Promise.reject(BearerError.invalidToken(`token alg ${alg} is not that of its key`))
  }

  /** Loads the keys unless they are loaded; rejects with a 503 BearerError if they cannot be. */
  async ready(): Promise<void> {
    if (this.keys === undefined) await this.refresh()
    if (this.keys === undefined) throw this.unavailable()
  }

  /** Fetches the keys again unless a fetch is in flight or one started within the cooldown. Never rejects. */
  refresh(): Promise<void> {
    if (this.pending !== undefined) return this.pending
    const now = this.options.clock()
    if (now - this.lastAttemptAt < this.options.cooldownMs) return Promise.resolve()
    this.lastAttemptAt = now
    this.pending = this.load()
      .then(
        () => {
          this.lastError = undefined
        },
        (error: unknown) => {
          this.lastError = error
        },
      )
      .finally(() => {
        this.pending = undefined
      })
    return this.pending
  }

  private async keyAfterRefresh(kid: string, alg: string): Promise<CryptoKey> {
    await this.refresh()
    const byAlg = this.keys?.get(kid)
    if (byAlg !== undefined) {
      const key = byAlg.get(alg)
      if (key !== undefined) return key
      throw BearerError.invalidToken(`token alg ${alg} is not that of its key`)
    }
    if (this.keys === undefined) throw this.unavailable()
    throw BearerError.invalidToken('token is signed with an unknown key')
  }

  private unavailable(): BearerError {
    return BearerError.unavailable("the issuer's signing keys could not be loaded", this.lastError)
  }

  private async load(): Promise<void> {
    const { issuer, timeoutMs } = this.options
    const jwksUri = this.options.jwksUri ?? (this.metadata ??= await fetchMetadata(issuer, timeoutMs)).jwksUri
    let response: Awaited<ReturnType<typeof fetchJsonResponse>>
    try {
      response = await fetchJsonResponse(jwksUri, timeoutMs)
    } catch (error) {
      // The jwks_uri may have moved: read the metadata again next time.
      this.metadata = undefined
      throw error
    }
    this.keys = await importKeys(response.body, this.options.algorithms)
    this.loadedAt = this.options.clock()
    this.freshForMs = Math.min(this.options.maxAgeMs, response.cacheLifetimeMs ?? Infinity)
  }
}

/** The key type (and curve) each accepted algorithm needs: what jose's JWK Sets check too. */
const KEY_SHAPES: Record<string, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
}

/** The asymmetric JWS algorithms a resource server may accept (RFC 8725 §3.1: never none, never HMAC). */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = Object.keys(KEY_SHAPES)

/**
 * The one algorithm a JWK may verify (RFC 8725 §3.1: each key with exactly one algorithm): its
 * own `alg` (if allowed), or, without one, the first allowed algorithm its kty and crv fit (with
 * `algorithms: ['RS256', 'PS256']` an RSA key without `alg` verifies RS256 only). Encryption keys (RFC 7517 §4.2), keys whose key_ops leave out
 * verify (§4.3) and keys without a kid are skipped.
 */
function algorithmsOf(jwk: unknown, allowed: readonly string[]): string[] {
  if (typeof jwk !== 'object' || jwk === null) return []
  const { kty, kid, use, alg, crv, key_ops: keyOps } = jwk as Record<string, unknown>
  if (typeof kid !== 'string' || (use !== undefined && use !== 'sig')) return []
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) return []
  const fits = (a: string) => {
    const shape = KEY_SHAPES[a]
    return shape !== undefined && shape.kty === kty && (shape.crv === undefined || shape.crv === crv)
  }
  if (alg !== undefined) return typeof alg === 'string' && allowed.includes(alg) && fits(alg) ? [alg] : []
  const first = allowed.find(fits)
  return first === undefined ? [] : [first]
}

// RFC 7518 §3.3: RSA keys of 2048 bits or more MUST be used (jose would refuse smaller ones at verify time).
function strongEnough(key: CryptoKey | Uint8Array): boolean {
  const algorithm = (key as CryptoKey).algorithm as Partial<webcrypto.RsaHashedKeyAlgorithm>
  return algorithm.modulusLength === undefined || algorithm.modulusLength >= 2048
}

async function importKeys(jwks: unknown, allowed: readonly string[]): Promise<Map<string, Map<string, CryptoKey>>> {
  const list = (jwks as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('the JWKS has no "keys" array')
  const keys = new Map<string, Map<string, CryptoKey>>()
  for (const jwk of list) {
    const byAlg = new Map<string, CryptoKey>()
    for (const alg of algorithmsOf(jwk, allowed)) {
      // A key that does not import is left out: the others still work.
      const key = await importJWK(jwk as JWK, alg).catch(() => undefined)
      if (key !== undefined && strongEnough(key)) byAlg.set(alg, key as CryptoKey)
    }
    if (byAlg.size > 0) keys.set((jwk as { kid: string }).kid, byAlg)
  }
  return keys
}
