import type { ClientRepository } from '../storage/clients.js'
import type { GrantRepository } from '../storage/grants.js'
import type { UserRepository } from '../storage/users.js'
import { findClient } from './clients.js'
import { iso, pageQuery, toPage, type ListInput, type Page } from './paging.js'
import { findUser, type Acting } from './users.js'

export interface GrantView {
  client_id: string
  client_name: string
  consents: Array<{ resource: string; scopes: string[]; created_at: string; updated_at: string }>
  refresh_token_families: Array<{ id: string; scopes: string[]; audience: string; created_at: string }>
}

/** What the user has granted, one item per client: remembered consents and live refresh-token families. */
export async function listGrants(deps: { users: UserRepository; grants: GrantRepository }, username: string, input: ListInput): Promise<Page<GrantView>> {
  const query = pageQuery(input)
  const user = await findUser(deps.users, username)
  const rows = await deps.grants.listForUser(user.id, query)
  return toPage(rows, query.pageSize, (grant) => grant.clientId, (grant) => ({
    client_id: grant.clientId,
    client_name: grant.clientName,
    consents: grant.consents.map((c) => ({ resource: c.resource, scopes: c.scopes, created_at: iso(c.createdAt), updated_at: iso(c.updatedAt) })),
    refresh_token_families: grant.families.map((f) => ({ id: f.id, scopes: f.scopes, audience: f.audience, created_at: iso(f.createdAt) })),
  }))
}

/**
 * Forgets the user's consents and revokes their refresh-token families (with the access tokens
 * issued from them), for one client or all: the client asks for consent again next time.
 */
export async function revokeGrants(
  deps: Acting & { users: UserRepository; clients: ClientRepository; grants: GrantRepository },
  username: string,
  input: { clientId?: string | undefined },
): Promise<{ revoked: { consents: number; refresh_token_families: number } }> {
  const user = await findUser(deps.users, username)
  const clientId = input.clientId === undefined ? undefined : (await findClient(deps.clients, input.clientId)).id
  const { consents, families } = await deps.grants.revoke({ userId: user.id, clientId }, deps.clock.now())
  deps.audit.record({ event: 'grants_revoked', userId: user.id, ...(clientId === undefined ? {} : { clientId }), consents, families, actor: deps.actor })
  return { revoked: { consents, refresh_token_families: families } }
}
