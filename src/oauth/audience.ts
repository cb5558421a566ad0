import { OAuthError } from '../errors.js'
import { isResourceUri } from './resource-uri.js'

/** The audiences a client may request: its registered list, or DEFAULT_AUDIENCE when it has none. */
export function allowedAudiences(registered: readonly string[], defaultAudience: string): readonly string[] {
  return registered.length > 0 ? registered : [defaultAudience]
}

/**
 * The audience of a token request (RFC 8707 §2): the requested `resource` when the client is
 * registered for it, compared as a plain string (the resource server checks `aud` the same
 * way). Absent means DEFAULT_AUDIENCE when the client may use it, else the client's only
 * registered audience; a client registered for several that excludes DEFAULT_AUDIENCE must
 * name one. RFC 9700 §2.3: a token is restricted to the audiences it was meant for, so a
 * client never obtains one for another API.
 */
export function resolveAudience(requested: string | undefined, registered: readonly string[], defaultAudience: string): string {
  const allowed = allowedAudiences(registered, defaultAudience)
  if (requested === undefined) {
    if (allowed.includes(defaultAudience)) return defaultAudience
    if (allowed.length === 1) return allowed[0] as string
    throw new OAuthError('invalid_target', 'resource is required: the client is registered for several audiences')
  }
  if (!isResourceUri(requested)) throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment')
  if (!allowed.includes(requested)) throw new OAuthError('invalid_target', 'the client is not registered for this resource')
  return requested
}

/** Whether a client is registered as the resource server of this audience (`client add --audience`). */
export type ResourceServerLookup = (audience: string) => Promise<boolean>

/**
 * resolveAudience for any client. A self-registered client (RFC 7591) has no list of its own:
 * it may ask for DEFAULT_AUDIENCE, or for the audience of an API registered in latchkey as a
 * resource server, and for nothing else, so an agent reaches the registered APIs only.
 */
export async function resolveClientAudience(
  requested: string | undefined,
  client: { resources: readonly string[]; selfRegistered?: boolean | undefined },
  defaultAudience: string,
  isResourceServer: ResourceServerLookup,
): Promise<string> {
  if (client.selfRegistered !== true || requested === undefined || requested === defaultAudience) {
    return resolveAudience(requested, client.resources, defaultAudience)
  }
  if (!isResourceUri(requested)) throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment')
  if (!(await isResourceServer(requested))) throw new OAuthError('invalid_target', 'the resource is not an API registered with this server')
  return requested
}
