/** What this module reads from the issuer's RFC 8414 metadata. */
export interface IssuerMetadata {
  issuer: string
  jwksUri: string
  introspectionEndpoint: string | undefined
}

/** GET (or POST) a URL and parse its JSON body; any failure, including a non-2xx answer, throws. */
export async function fetchJson(
  url: string,
  timeoutMs: number,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<unknown> {
  return (await fetchJsonResponse(url, timeoutMs, init)).body
}

/**
 * How long a response may be reused by its `Cache-Control` (RFC 9111 §5.2.2): 0 for no-store,
 * no-cache or max-age=0; the max-age in milliseconds; undefined when the header says neither.
 */
export function cacheLifetimeMs(cacheControl: string | null): number | undefined {
  if (cacheControl === null) return undefined
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim())
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0
  for (const directive of directives) {
    const match = /^max-age=("?)(\d+)\1$/.exec(directive)
    if (match) return Number(match[2]) * 1000
  }
  return undefined
}

/** fetchJson, with the response's cache lifetime. */
export async function fetchJsonResponse(
  url: string,
  timeoutMs: number,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ body: unknown; cacheLifetimeMs: number | undefined }> {
  const response = await fetch(url, {
    ...init,
    headers: { accept: 'application/json', ...init.headers },
    // A hung issuer must not hold requests forever.
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (!response.ok) {
    // Drain the body so the connection can be reused.
    await response.body?.cancel()
    throw new Error(`${url} answered HTTP ${response.status}`)
  }
  return { body: await response.json(), cacheLifetimeMs: cacheLifetimeMs(response.headers.get('cache-control')) }
}

/** RFC 8414 §3.1: the well-known segment goes between the host and any path of the issuer. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.origin}/.well-known/oauth-authorization-server${path}`
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const { protocol } = new URL(value)
    return protocol === 'https:' || protocol === 'http:'
  } catch {
    return false
  }
}

export async function fetchMetadata(issuer: string, timeoutMs: number): Promise<IssuerMetadata> {
  const document = await fetchJson(metadataUrl(issuer), timeoutMs)
  if (typeof document !== 'object' || document === null) throw new Error('metadata is not a JSON object')
  const fields = document as Record<string, unknown>
  // RFC 8414 §3.3: the issuer in the document MUST be identical to the one we asked for,
  // else an attacker-controlled document could substitute its own keys.
  if (fields.issuer !== issuer) throw new Error('metadata issuer does not match the configured issuer')
  if (!isHttpUrl(fields.jwks_uri)) throw new Error('metadata has no valid jwks_uri')
  return {
    issuer,
    jwksUri: fields.jwks_uri,
    introspectionEndpoint: isHttpUrl(fields.introspection_endpoint) ? fields.introspection_endpoint : undefined,
  }
}
