import { isScopeToken, USER_SCOPES } from '../oauth/scope.js'
import type { ClientRepository } from '../storage/clients.js'
import type { Scope, ScopeRepository } from '../storage/scopes.js'
import { AdminError, refuseControlCharacters } from './admin-error.js'
import { ADMIN_SCOPE } from './client-rules.js'
import { pageQuery, toPage, type ListInput, type Page } from './paging.js'
import type { Acting } from './users.js'

export async function addScope(
  deps: Partial<Acting> & { scopes: ScopeRepository },
  input: { name: string; description: string },
): Promise<{ name: string; description: string }> {
  refuseControlCharacters({ name: input.name, description: input.description })
  if (!isScopeToken(input.name)) {
    throw new AdminError(`scope name "${input.name}" must be printable ASCII without spaces, quotes or backslashes`)
  }
  if (input.name === ADMIN_SCOPE) throw new AdminError(`the scope ${ADMIN_SCOPE} is reserved: use client add --admin`)
  const description = input.description.trim()
  if (description === '' || description.length > 1000) throw new AdminError('--description must be 1 to 1000 characters')
  await deps.scopes.upsert({ name: input.name, description: input.description })
  deps.audit?.record({ event: 'scope_added', scope: input.name, actor: deps.actor ?? 'cli' })
  return { name: input.name, description: input.description }
}

export async function listScopes(deps: { scopes: ScopeRepository }, input: ListInput): Promise<Page<Scope>> {
  const query = pageQuery(input)
  return toPage(await deps.scopes.page(query), query.pageSize, (scope) => scope.name, (scope) => scope)
}

/**
 * Removes a scope no client may request. Refused while a client is registered with it (its
 * tokens would name a scope that no longer exists), and for the built-in OpenID Connect scopes.
 */
export async function removeScope(deps: Acting & { scopes: ScopeRepository; clients: ClientRepository }, name: string): Promise<{ name: string }> {
  refuseControlCharacters({ name })
  if ((USER_SCOPES as readonly string[]).includes(name)) throw new AdminError(`the scope ${name} is built in and cannot be removed`)
  // The check and the delete are one transaction (storage), not a check before a delete.
  const removed = await deps.scopes.remove(name, 6)
  if (removed === 'missing') throw new AdminError(`no scope "${name}"`, 'not_found')
  if (removed !== 'removed') {
    const named = removed.usedBy.slice(0, 5).join(', ')
    throw new AdminError(`scope ${name} is used by client(s) ${named}${removed.usedBy.length > 5 ? ', …' : ''}: remove it from them first (client update --scope)`, 'conflict')
  }
  deps.audit.record({ event: 'scope_removed', scope: name, actor: deps.actor })
  return { name }
}
