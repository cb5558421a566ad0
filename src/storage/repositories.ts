import type { Store } from './connect.js'
import { clientRepository, type ClientRepository } from './clients.js'
import { scopeRepository, type ScopeRepository } from './scopes.js'
import { userRepository, type UserRepository } from './users.js'

export interface Repositories {
  users: UserRepository
  clients: ClientRepository
  scopes: ScopeRepository
}

export function repositories(store: Store): Repositories {
  return {
    users: userRepository(store.db),
    clients: clientRepository(store.db),
    scopes: scopeRepository(store.db),
  }
}
