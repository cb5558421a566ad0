import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import type { GrantDescriptor } from '../grants/grant.js'
import { BUILT_IN_GRANTS } from '../grants/index.js'
import { redirectUriProblem } from '../oauth/redirect-uri.js'
import { isResourceUri, RESOURCE_URI_RULE } from '../oauth/resource-uri.js'
import { parseScope, USER_SCOPES } from '../oauth/scope.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { Client, ClientRepository } from '../storage/clients.js'
import type { ScopeRepository } from '../storage/scopes.js'
import { AdminError } from './admin-error.js'

export interface AddClientInput {
  name: string
  redirectUris?: string[] | undefined
  postLogoutRedirectUris?: string[] | undefined
  isPublic?: boolean | undefined
  grants?: string[] | undefined
  scope?: string | undefined
  audience?: string | undefined
  /** The audiences it may request with `resource` (RFC 8707); none: DEFAULT_AUDIENCE only. */
  resources?: string[] | undefined
}

export interface AddedClient {
  client_id: string
  client_secret?: string
}

/** The grants a client gets, each a `grant_type` the server serves. */
function grantsOf(input: AddClientInput, known: readonly GrantDescriptor[]): GrantDescriptor[] {
  if (input.grants === undefined || input.grants.length === 0) {
    // A resource server registered with --audience only introspects: no grant unless asked.
    const defaults = input.audience === undefined ? ['authorization_code', 'refresh_token'] : []
    return known.filter((grant) => defaults.includes(grant.type))
  }
  const grants: GrantDescriptor[] = []
  for (const type of new Set(input.grants)) {
    const grant = known.find((g) => g.type === type)
    if (!grant) throw new AdminError(`unknown grant "${type}" (expected one of: ${known.map((g) => g.type).join(', ')})`)
    grants.push(grant)
  }
  return grants
}

function checkUris(option: string, uris: readonly string[]): void {
  for (const uri of uris) {
    const problem = redirectUriProblem(uri)
    if (problem) throw new AdminError(`${option} "${uri}" ${problem}`)
  }
}

export async function addClient(
  deps: {
    clients: ClientRepository
    scopes: ScopeRepository
    clock: Clock
    audit: AuditLog
    /** The grants the server serves; default: the built-in ones. */
    grants?: readonly GrantDescriptor[]
  },
  input: AddClientInput,
): Promise<AddedClient> {
  const name = input.name.trim()
  if (name === '' || name.length > 255) throw new AdminError('--name must be 1 to 255 characters')
  const isPublic = input.isPublic === true
  const grantDescriptors = grantsOf(input, deps.grants ?? BUILT_IN_GRANTS)
  // e.g. OAuth 2.1 §4.2: client credentials only for confidential clients.
  for (const grant of grantDescriptors) {
    if (isPublic && grant.confidentialOnly) throw new AdminError(`--public cannot be used with the ${grant.type} grant`)
  }
  const grants = grantDescriptors.map((grant) => grant.type)
  if (input.audience !== undefined) {
    if (isPublic) throw new AdminError('--public cannot be used with --audience (a resource server must authenticate)')
    if (!isResourceUri(input.audience)) throw new AdminError(`--audience ${JSON.stringify(input.audience)} must be ${RESOURCE_URI_RULE}`)
  }
  const redirectUris = [...new Set(input.redirectUris ?? [])]
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw new AdminError('--redirect-uri is required for the authorization_code grant')
  }
  checkUris('--redirect-uri', redirectUris)
  const resources = [...new Set(input.resources ?? [])]
  for (const resource of resources) {
    if (!isResourceUri(resource)) throw new AdminError(`--resource ${JSON.stringify(resource)} must be ${RESOURCE_URI_RULE}`)
  }
  const postLogoutRedirectUris = [...new Set(input.postLogoutRedirectUris ?? [])]
  checkUris('--post-logout-redirect-uri', postLogoutRedirectUris)

  // `--scope ""` registers a client that may request no scope at all.
  const scopes = input.scope === undefined ? [...USER_SCOPES] : input.scope.trim() === '' ? [] : parseScope(input.scope)
  if (scopes === undefined) throw new AdminError(`--scope "${input.scope}" is not a space-separated list of scope names`)
  const known = new Set((await deps.scopes.findByNames(scopes)).map((s) => s.name))
  const unknown = scopes.filter((s) => !known.has(s))
  if (unknown.length > 0) throw new AdminError(`unknown scope(s): ${unknown.join(', ')} (add them with "latchkey scope add")`)

  const clientId = `lk_${randomToken(16)}`
  const secret = isPublic ? undefined : randomToken(32)
  const client: Client = {
    id: clientId,
    name,
    secretHash: secret === undefined ? null : sha256Hex(secret),
    isPublic,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes: grants,
    scopes,
    audience: input.audience ?? null,
    resources,
    createdAt: deps.clock.now(),
  }
  await deps.clients.create(client)
  deps.audit.record({ event: 'client_created', clientId, public: isPublic, grants })
  return secret === undefined ? { client_id: clientId } : { client_id: clientId, client_secret: secret }
}
