import type { GrantDescriptor } from '../grants/grant.js'
import { redirectUriProblem } from '../oauth/redirect-uri.js'
import { isResourceUri, RESOURCE_URI_RULE } from '../oauth/resource-uri.js'
import { parseScope } from '../oauth/scope.js'
import type { ScopeRepository } from '../storage/scopes.js'
import { AdminError } from './admin-error.js'

/**
 * The reserved scope of the admin API. Only `client add --admin` grants it: `scope add`, `--scope`
 * and registration refuse the name, so no other path leads to it.
 */
export const ADMIN_SCOPE = 'latchkey:admin'

/** The audience of admin API tokens: the issuer's /admin/v1. */
export function adminAudience(issuer: string): string {
  return `${issuer}/admin/v1`
}

/** What a client is registered with, as add and update check it. */
export interface Registration {
  name: string
  isPublic: boolean
  isAdmin: boolean
  redirectUris: string[]
  postLogoutRedirectUris: string[]
  grants: string[]
  /** The scopes it may request, ADMIN_SCOPE excluded (isAdmin adds it). */
  scopes: string[]
  resources: string[]
  audience: string | null
}

export function checkName(name: string): string {
  const trimmed = name.trim()
  if (trimmed === '' || trimmed.length > 255) throw new AdminError('--name must be 1 to 255 characters')
  return trimmed
}

/** The grants named, each a `grant_type` the server serves. */
export function knownGrants(types: readonly string[], known: readonly GrantDescriptor[]): string[] {
  return [...new Set(types)].map((type) => {
    const grant = known.find((g) => g.type === type)
    if (!grant) throw new AdminError(`unknown grant "${type}" (expected one of: ${known.map((g) => g.type).join(', ')})`)
    return grant.type
  })
}

/** `--scope`: a space-separated list ('' for none), never the reserved admin scope. */
export function scopeList(scope: string): string[] {
  const scopes = scope.trim() === '' ? [] : parseScope(scope)
  if (scopes === undefined) throw new AdminError(`--scope "${scope}" is not a space-separated list of scope names`)
  if (scopes.includes(ADMIN_SCOPE)) throw new AdminError(`the scope ${ADMIN_SCOPE} is reserved: use client add --admin`)
  return scopes
}

function checkUris(option: string, uris: readonly string[]): void {
  for (const uri of uris) {
    const problem = redirectUriProblem(uri)
    if (problem) throw new AdminError(`${option} "${uri}" ${problem}`)
  }
}

/** Every rule a registration must satisfy, whether new (add) or changed (update). */
export async function checkRegistration(
  deps: { scopes: ScopeRepository; grants: readonly GrantDescriptor[] },
  registration: Registration,
): Promise<void> {
  const { isPublic, grants } = registration
  if (registration.isAdmin) {
    if (isPublic) throw new AdminError('--admin cannot be used with --public (an admin client must authenticate)')
    // An admin client acts for itself alone: no user token ever carries the admin scope.
    const others = grants.filter((grant) => grant !== 'client_credentials')
    if (others.length > 0) throw new AdminError(`an admin client may only use the client_credentials grant (not ${others.join(', ')})`)
  }
  // e.g. OAuth 2.1 §4.2: client credentials only for confidential clients.
  for (const type of grants) {
    const grant = deps.grants.find((g) => g.type === type)
    if (isPublic && grant?.confidentialOnly === true) throw new AdminError(`--public cannot be used with the ${type} grant`)
  }
  if (registration.audience !== null) {
    if (isPublic) throw new AdminError('--public cannot be used with --audience (a resource server must authenticate)')
    if (!isResourceUri(registration.audience)) throw new AdminError(`--audience ${JSON.stringify(registration.audience)} must be ${RESOURCE_URI_RULE}`)
  }
  if (grants.includes('authorization_code') && registration.redirectUris.length === 0) {
    throw new AdminError('--redirect-uri is required for the authorization_code grant')
  }
  checkUris('--redirect-uri', registration.redirectUris)
  for (const resource of registration.resources) {
    if (!isResourceUri(resource)) throw new AdminError(`--resource ${JSON.stringify(resource)} must be ${RESOURCE_URI_RULE}`)
  }
  checkUris('--post-logout-redirect-uri', registration.postLogoutRedirectUris)
  const known = new Set((await deps.scopes.findByNames(registration.scopes)).map((s) => s.name))
  const unknown = registration.scopes.filter((s) => !known.has(s))
  if (unknown.length > 0) throw new AdminError(`unknown scope(s): ${unknown.join(', ')} (add them with "latchkey scope add")`)
}
