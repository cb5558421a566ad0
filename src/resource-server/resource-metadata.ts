/** What `createResourceServer({ resourceMetadata })` takes: RFC 9728 protected-resource metadata. */
export interface ResourceMetadataOptions {
  /** The resource identifier (RFC 9728 §1.2); default: the `audience`. */
  resource?: string
  /** `scopes_supported`; default: every scope `requireScope` was given (none: omitted). */
  scopesSupported?: readonly string[]
  /** `resource_name`, human-readable; default: omitted. */
  resourceName?: string
}

/** The RFC 9728 §2 document this module serves. */
export interface ProtectedResourceMetadata {
  resource: string
  authorization_servers: string[]
  scopes_supported?: string[]
  bearer_methods_supported: ['header']
  resource_name?: string
}

/** The metadata document and where it is served, for any HTTP framework. */
export interface ResourceMetadataResponse {
  /** The absolute URL of the document: the challenges' `resource_metadata`. */
  url: string
  /** Its path on this origin, to route GET requests to. */
  path: string
  /** 200 with these headers and `JSON.stringify(body)`. */
  headers: Record<string, string>
  body: ProtectedResourceMetadata
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The well-known URL of a resource identifier's metadata, or a TypeError saying why the
 * identifier cannot have one. RFC 9728 §1.2: an https URL without fragment (http only on
 * loopback, for development); a query would have to survive the well-known URL, so none.
 */
export function resourceMetadataUrl(resource: string): URL {
  if (!URL.canParse(resource)) throw new TypeError(`not a URL: ${JSON.stringify(resource)}`)
  const url = new URL(resource)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new TypeError(`${resource} is not an https URL (http only on localhost, 127.0.0.1 or [::1])`)
  }
  if (url.username !== '' || url.password !== '') throw new TypeError(`${resource} has credentials`)
  if (url.search !== '' || resource.includes('?')) throw new TypeError(`${resource} has a query`)
  if (url.hash !== '' || resource.includes('#')) throw new TypeError(`${resource} has a fragment`)
  // The identifier is compared as a string (§3.3): one the URL parser would rewrite (dot
  // segments, dropped whitespace, escapes, case) would be served under another path than its own.
  // A `*` would make the route a wildcard. The one spelling allowed to differ: no slash after the host.
  const spelled = url.pathname === '/' && !resource.endsWith('/') ? url.href.slice(0, -1) : url.href
  if (spelled !== resource) throw new TypeError(`${resource} is not in its normal form (${spelled})`)
  if (url.pathname.includes('*')) throw new TypeError(`${resource} has a * in its path`)
  // RFC 9728 §3.1: the well-known segment goes between the host and the path; a lone
  // terminating slash after the host is no path.
  const path = url.pathname === '/' ? '' : url.pathname
  return new URL(`${url.origin}/.well-known/oauth-protected-resource${path}`)
}

export interface ResourceMetadata {
  url: string
  /** The document as it stands now (the scopes may grow as routes are declared). */
  response(): ResourceMetadataResponse
  /** Notes the scopes a route requires (`requireScope`): the default `scopes_supported`. */
  noteScopes(scopes: readonly string[]): void
}

export function createResourceMetadata(options: ResourceMetadataOptions, audience: string, issuer: string): ResourceMetadata {
  const resource = options.resource ?? audience
  let url: URL
  try {
    url = resourceMetadataUrl(resource)
  } catch (error) {
    const name = options.resource === undefined ? 'audience' : 'resourceMetadata.resource'
    throw new TypeError(
      `${name} must be a resource identifier to serve RFC 9728 metadata: ${(error as Error).message}; ` +
      `set resourceMetadata.resource to this API's https URL, or resourceMetadata: false`,
    )
  }
  const configured = options.scopesSupported
  if (configured !== undefined && !(Array.isArray(configured) && configured.every((scope) => typeof scope === 'string' && scope !== ''))) {
    throw new TypeError('resourceMetadata.scopesSupported must be an array of scope names')
  }
  if (options.resourceName !== undefined && typeof options.resourceName !== 'string') {
    throw new TypeError('resourceMetadata.resourceName must be a string')
  }
  const noted = new Set<string>()
  const href = url.href

  return {
    url: href,
    noteScopes(scopes) {
      for (const scope of scopes) noted.add(scope)
    },
    response() {
      const scopes = [...(configured ?? noted)]
      // RFC 9728 §3.2: "resource" MUST be identical to the identifier the well-known URL was
      // built from; a parameter with zero values MUST be omitted.
      const body: ProtectedResourceMetadata = {
        resource,
        authorization_servers: [issuer],
        ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
        // RFC 6750 §2.1 only: query and body tokens are refused (OAuth 2.1 §5.1).
        bearer_methods_supported: ['header'],
        ...(options.resourceName === undefined ? {} : { resource_name: options.resourceName }),
      }
      return {
        url: href,
        path: url.pathname,
        // Public, credential-free data that browser-based clients fetch too.
        headers: { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' },
        body,
      }
    },
  }
}
