import type { webcrypto } from 'node:crypto'
import { importJWK, type CryptoKey, type JWK } from 'jose'
import { BearerError } from './errors.js'
import { fetchJsonResponse, fetchMetadata, type IssuerMetadata } from './metadata.js'

export interface KeySetOptions {
  issuer: string
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
 * The issuer's public keys, imported once per fetch and looked up by `kid`. A token with an
 * unknown kid triggers a refetch, but at most one per cooldown: a flood of made-up kids cannot
 * make us hammer the issuer, and concurrent misses share the one fetch in flight.
 */
export class KeySet {
  /** undefined until a JWKS has been loaded once; afterwards a failed refetch keeps the old keys. */
  private keys: Map<string, CryptoKey> | undefined
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

  /** The hot path: a cached key is returned synchronously, without any fetch. */
  key(kid: string): CryptoKey | Promise<CryptoKey> {
    const key = this.keys?.get(kid)
    if (key === undefined) return this.keyAfterRefresh(kid)
    if (this.options.clock() - this.loadedAt > this.freshForMs) void this.refresh()
    return key
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

  private async keyAfterRefresh(kid: string): Promise<CryptoKey> {
    await this.refresh()
    const key = this.keys?.get(kid)
    if (key !== undefined) return key
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
    this.keys = await importKeys(response.body)
    this.loadedAt = this.options.clock()
    this.freshForMs = Math.min(this.options.maxAgeMs, response.cacheLifetimeMs ?? Infinity)
  }
}

function isUsable(jwk: unknown): jwk is JWK & { kid: string } {
  if (typeof jwk !== 'object' || jwk === null) return false
  const { kty, kid, use, alg } = jwk as Record<string, unknown>
  // RFC 7517 §4.2/§4.4: skip encryption keys and keys meant for another algorithm.
  return kty === 'RSA' && typeof kid === 'string' && (use === undefined || use === 'sig') && (alg === undefined || alg === 'RS256')
}

// Only oct JWKs import as a Uint8Array, and isUsable lets through RSA ones only.
function modulusLength(key: CryptoKey | Uint8Array): number {
  return ((key as CryptoKey).algorithm as webcrypto.RsaHashedKeyAlgorithm).modulusLength
}

async function importKeys(jwks: unknown): Promise<Map<string, CryptoKey>> {
  const list = (jwks as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('the JWKS has no "keys" array')
  const usable = list.filter(isUsable)
  const imported = await Promise.allSettled(usable.map((jwk) => importJWK(jwk, 'RS256')))
  const keys = new Map<string, CryptoKey>()
  imported.forEach((result, index) => {
    // A key that does not import is left out: the others still work. RFC 7518 §3.3: RSA keys
    // of 2048 bits or more MUST be used (jose would refuse smaller ones at verify time).
    if (result.status === 'fulfilled' && modulusLength(result.value) >= 2048) keys.set(usable[index]!.kid, result.value as CryptoKey)
  })
  return keys
}
