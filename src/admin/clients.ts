import type { GrantDescriptor } from '../grants/grant.js'
import { BUILT_IN_GRANTS } from '../grants/index.js'
import { USER_SCOPES } from '../oauth/scope.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { Client, ClientChanges, ClientRepository } from '../storage/clients.js'
import type { ScopeRepository } from '../storage/scopes.js'
import { AdminError, refuseControlCharacters } from './admin-error.js'
import { ADMIN_SCOPE, adminAudience, checkName, checkRegistration, knownGrants, scopeList, type Registration } from './client-rules.js'
import { iso, pageQuery, toPage, type ListInput, type Page } from './paging.js'
import type { Acting, MaybeActing } from './users.js'

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
  /** An admin API client: client_credentials with the reserved scope, for ISSUER/admin/v1. */
  admin?: boolean | undefined
  /** Accept only a sign-in with two factors or a passkey (`--require-mfa`). */
  requireMfa?: boolean | undefined
}

export interface AddedClient {
  client_id: string
  client_secret?: string
}

export interface ClientView {
  client_id: string
  name: string
  public: boolean
  admin: boolean
  redirect_uris: string[]
  post_logout_redirect_uris: string[]
  grants: string[]
  scopes: string[]
  resources: string[]
  audience: string | null
  created_at: string
  /** Until when the secret replaced by the last rotation still works; null when it does not. */
  previous_secret_expires_at: string | null
  /** Registered itself through /register (RFC 7591), not added by an administrator. */
  self_registered: boolean
  /** Its users must sign in with two factors or a passkey (`--require-mfa`). */
  require_mfa: boolean
}

export interface ClientDeps extends MaybeActing {
  clients: ClientRepository
  scopes: ScopeRepository
  /** The grants the server serves; default: the built-in ones. */
  grants?: readonly GrantDescriptor[]
  /** The issuer, for the admin API's audience (needed by --admin). */
  issuer?: string | undefined
}

export function isAdminClient(client: Pick<Client, 'scopes' | 'isPublic'>): boolean {
  return !client.isPublic && client.scopes.includes(ADMIN_SCOPE)
}

export function clientView(client: Client, now: number): ClientView {
  const previous = client.previousSecretExpiresAt ?? null
  return {
    client_id: client.id,
    name: client.name,
    public: client.isPublic,
    admin: isAdminClient(client),
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grants: client.grantTypes,
    scopes: client.scopes,
    resources: client.resources,
    audience: client.audience,
    created_at: iso(client.createdAt),
    previous_secret_expires_at: previous !== null && previous > now ? iso(previous) : null,
    self_registered: client.selfRegistered === true,
    require_mfa: client.requireMfa === true,
  }
}

function adminAudienceOf(deps: ClientDeps): string {
  if (deps.issuer === undefined) throw new Error('the issuer is needed to register an admin client')
  return adminAudience(deps.issuer)
}

/** What is stored: the registration's scopes and resources, plus the admin scope and audience for an admin. */
function stored(registration: Registration, deps: ClientDeps): Pick<Client, 'scopes' | 'resources'> {
  if (!registration.isAdmin) return { scopes: registration.scopes, resources: registration.resources }
  const audience = adminAudienceOf(deps)
  return {
    scopes: [...registration.scopes, ADMIN_SCOPE],
    resources: registration.resources.includes(audience) ? registration.resources : [...registration.resources, audience],
  }
}

/** Every string a client registration or update carries (the audience has its own rule, which refuses them too). */
function refuseClientText(input: UpdateClientInput): void {
  refuseControlCharacters({
    name: input.name,
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris,
    grants: input.grants,
    scope: input.scope,
    resources: input.resources,
  })
}

export async function addClient(deps: ClientDeps, input: AddClientInput): Promise<AddedClient> {
  refuseClientText(input)
  const known = deps.grants ?? BUILT_IN_GRANTS
  const isAdmin = input.admin === true
  const audience = input.audience ?? null
  let grants: string[]
  if (input.grants === undefined || input.grants.length === 0) {
    // A resource server registered with --audience only introspects: no grant unless asked;
    // an admin client acts for itself.
    grants = isAdmin ? ['client_credentials'] : audience === null ? ['authorization_code', 'refresh_token'] : []
  } else {
    grants = knownGrants(input.grants, known)
  }
  // client_credentials never grants the user scopes, so an admin client needs none by default.
  const defaultScopes = isAdmin ? [] : [...USER_SCOPES]
  const registration: Registration = {
    name: checkName(input.name),
    isPublic: input.isPublic === true,
    isAdmin,
    redirectUris: [...new Set(input.redirectUris ?? [])],
    postLogoutRedirectUris: [...new Set(input.postLogoutRedirectUris ?? [])],
    grants,
    scopes: input.scope === undefined ? defaultScopes : scopeList(input.scope),
    resources: [...new Set(input.resources ?? [])],
    audience,
  }
  await checkRegistration({ scopes: deps.scopes, grants: known }, registration)

  const clientId = `lk_${randomToken(16)}`
  const secret = registration.isPublic ? undefined : randomToken(32)
  const client: Client = {
    id: clientId,
    name: registration.name,
    secretHash: secret === undefined ? null : sha256Hex(secret),
    isPublic: registration.isPublic,
    redirectUris: registration.redirectUris,
    postLogoutRedirectUris: registration.postLogoutRedirectUris,
    grantTypes: grants,
    audience,
    ...stored(registration, deps),
    requireMfa: input.requireMfa === true,
    createdAt: deps.clock.now(),
  }
  await deps.clients.create(client)
  deps.audit.record({
    event: 'client_created',
    clientId,
    public: registration.isPublic,
    grants,
    ...(isAdmin ? { admin: true } : {}),
    ...(deps.actor === undefined ? {} : { actor: deps.actor }),
  })
  return secret === undefined ? { client_id: clientId } : { client_id: clientId, client_secret: secret }
}

/** The client with this client_id, or not_found. */
export async function findClient(clients: ClientRepository, clientId: string): Promise<Client> {
  refuseControlCharacters({ client_id: clientId })
  const client = await clients.findById(clientId)
  if (!client) throw new AdminError(`no client "${clientId}"`, 'not_found')
  return client
}

export async function listClients(deps: Pick<ClientDeps, 'clients' | 'clock'>, input: ListInput): Promise<Page<ClientView>> {
  const query = pageQuery(input)
  const now = deps.clock.now()
  return toPage(await deps.clients.list(query), query.pageSize, (client) => client.id, (client) => clientView(client, now))
}

export async function showClient(deps: Pick<ClientDeps, 'clients' | 'clock'>, clientId: string): Promise<ClientView> {
  return clientView(await findClient(deps.clients, clientId), deps.clock.now())
}

/** `client update`: each given field replaces the registered one; the rules of `client add` apply to the result. */
export interface UpdateClientInput {
  name?: string | undefined
  redirectUris?: string[] | undefined
  postLogoutRedirectUris?: string[] | undefined
  grants?: string[] | undefined
  scope?: string | undefined
  resources?: string[] | undefined
  /** true makes it an admin client, false takes the admin scope away. */
  admin?: boolean | undefined
  /** true: only sign-ins with two factors or a passkey; false: the policy (MFA_REQUIRED) alone decides. */
  requireMfa?: boolean | undefined
}

export async function updateClient(deps: ClientDeps & Acting, clientId: string, input: UpdateClientInput): Promise<ClientView> {
  refuseClientText(input)
  const known = deps.grants ?? BUILT_IN_GRANTS
  const fields = Object.entries(input).filter(([, value]) => value !== undefined).map(([key]) => key)
  if (fields.length === 0) throw new AdminError('nothing to update: give at least one field to change')
  const client = await findClient(deps.clients, clientId)
  const wasAdmin = isAdminClient(client)
  const isAdmin = input.admin ?? wasAdmin
  const ownAudience = wasAdmin && deps.issuer !== undefined ? adminAudience(deps.issuer) : undefined
  const registration: Registration = {
    name: input.name === undefined ? client.name : checkName(input.name),
    isPublic: client.isPublic,
    isAdmin,
    redirectUris: input.redirectUris === undefined ? client.redirectUris : [...new Set(input.redirectUris)],
    postLogoutRedirectUris: input.postLogoutRedirectUris === undefined ? client.postLogoutRedirectUris : [...new Set(input.postLogoutRedirectUris)],
    grants: input.grants === undefined ? client.grantTypes : knownGrants(input.grants, known),
    scopes: input.scope === undefined ? client.scopes.filter((s) => s !== ADMIN_SCOPE) : scopeList(input.scope),
    // An admin client that stops being one loses the admin audience it was given with --admin.
    resources: (input.resources === undefined ? client.resources : [...new Set(input.resources)]).filter((r) => isAdmin || r !== ownAudience),
    audience: client.audience,
  }
  await checkRegistration({ scopes: deps.scopes, grants: known }, registration)
  const changes: ClientChanges = {
    name: registration.name,
    redirectUris: registration.redirectUris,
    postLogoutRedirectUris: registration.postLogoutRedirectUris,
    grantTypes: registration.grants,
    ...stored(registration, deps),
    ...(input.requireMfa === undefined ? {} : { requireMfa: input.requireMfa }),
  }
  await deps.clients.update(client.id, changes)
  deps.audit.record({ event: 'client_updated', clientId: client.id, fields, actor: deps.actor })
  return clientView({ ...client, ...changes }, deps.clock.now())
}

/** The longest grace period: long enough for any rolling deployment, short enough to end. */
export const MAX_GRACE_SECONDS = 30 * 86_400

export interface RotatedSecret {
  client_id: string
  client_secret: string
  /** Until when the old secret still works; null when it stopped at once. */
  previous_secret_expires_at: string | null
}

/**
 * A new secret, shown once and stored as its SHA-256 hash. The old one stops at once, or with
 * `graceSeconds` keeps working until then, so instances can be redeployed one by one.
 */
export async function rotateSecret(deps: ClientDeps & Acting, clientId: string, input: { graceSeconds?: number | string | undefined }): Promise<RotatedSecret> {
  const raw = input.graceSeconds
  const grace = raw === undefined ? 0 : typeof raw === 'number' ? raw : /^\d{1,8}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw new AdminError(`--grace must be an integer number of seconds from 0 to ${MAX_GRACE_SECONDS}`)
  }
  const client = await findClient(deps.clients, clientId)
  if (client.isPublic) throw new AdminError(`client "${clientId}" is public: it has no secret`)
  const secret = randomToken(32)
  const expiresAt = grace === 0 ? undefined : deps.clock.now() + grace * 1000
  await deps.clients.rotateSecret(client.id, sha256Hex(secret), expiresAt)
  deps.audit.record({ event: 'client_secret_rotated', clientId: client.id, graceSeconds: grace, actor: deps.actor })
  return { client_id: client.id, client_secret: secret, previous_secret_expires_at: expiresAt === undefined ? null : iso(expiresAt) }
}

/** Revokes every token the client holds and deletes it with its consents, codes and families. */
export async function removeClient(deps: Acting & Pick<ClientDeps, 'clients'>, clientId: string): Promise<{ client_id: string }> {
  const client = await findClient(deps.clients, clientId)
  await deps.clients.remove(client.id, deps.clock.now())
  deps.audit.record({ event: 'client_removed', clientId: client.id, actor: deps.actor })
  return { client_id: client.id }
}
