import { isScopeToken } from '../oauth/scope.js'
import type { ScopeRepository } from '../storage/scopes.js'
import { AdminError } from './admin-error.js'

export async function addScope(
  deps: { scopes: ScopeRepository },
  input: { name: string; description: string },
): Promise<{ name: string; description: string }> {
  if (!isScopeToken(input.name)) {
    throw new AdminError(`scope name "${input.name}" must be printable ASCII without spaces, quotes or backslashes`)
  }
  if (input.description.trim() === '') throw new AdminError('--description must not be empty')
  await deps.scopes.upsert({ name: input.name, description: input.description })
  return { name: input.name, description: input.description }
}
