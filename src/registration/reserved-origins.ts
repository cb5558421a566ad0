import { OAuthError } from '../errors.js'
import type { ClientRepository } from '../storage/clients.js'
import type { ClientMetadata } from './metadata.js'

/** Loopback hosts (RFC 8252 §7.3): every native app on a machine shares them, at any port. */
const LOOPBACK_HOSTS = ['127.0.0.1', '[::1]', 'localhost']

/**
 * What a person would take a redirect URI for: a web origin (scheme, host and port), or for a
 * private-use scheme (RFC 8252 §7.1) the scheme, which names the app.
 */
function originOf(url: URL): string {
  return url.origin === 'null' ? url.protocol : url.origin
}

/** The origin of a stored URI; none for one that does not parse (registration refuses those). */
function storedOrigin(uri: string): string | undefined {
  try {
    return originOf(new URL(uri))
  } catch {
    return undefined
  }
}

/**
 * A self-registered client may not send users back to latchkey's own origin, nor to an origin
 * (or private-use scheme) of a client an administrator added: the consent and logout pages name
 * that host, and a user would trust it. Loopback URIs are exempt from the second rule: native
 * apps share loopback (RFC 8252 §7.3), so no app owns it.
 *
 * Administrators add few clients, so reading all their URIs here is cheap enough, and
 * registration is rate-limited per address (LIMIT_REGISTRATIONS_PER_ADDRESS).
 */
export async function refuseReservedOrigins(
  metadata: Pick<ClientMetadata, 'redirectUris' | 'postLogoutRedirectUris'>,
  deps: { clients: Pick<ClientRepository, 'administratorRedirectUris'>; issuer: string },
): Promise<void> {
  const uris = [...metadata.redirectUris.map((uri) => ['redirect_uris', uri] as const), ...metadata.postLogoutRedirectUris.map((uri) => ['post_logout_redirect_uris', uri] as const)]
  if (uris.length === 0) return
  const issuerOrigin = new URL(deps.issuer).origin
  const administrators = new Set((await deps.clients.administratorRedirectUris()).map(storedOrigin))
  for (const [name, uri] of uris) {
    // parseMetadata has checked that it parses.
    const url = new URL(uri)
    const origin = originOf(url)
    if (origin === issuerOrigin) throw new OAuthError('invalid_redirect_uri', `${name}: "${uri}" is on latchkey's own origin`)
    if (administrators.has(origin) && !LOOPBACK_HOSTS.includes(url.hostname)) {
      throw new OAuthError('invalid_redirect_uri', `${name}: "${uri}" is on the origin of a client an administrator added`)
    }
  }
}
