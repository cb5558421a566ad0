import type { Insertable, Selectable } from 'kysely'

/*
 * Storage convention (one place, both dialects):
 * - times are epoch milliseconds in `bigint` columns, read back as numbers (see connect.ts);
 * - booleans are `integer` 0/1;
 * - lists are JSON text.
 * convert.ts turns these into domain values.
 */

export interface UsersTable {
  id: string
  username: string
  password_hash: string
  email: string | null
  name: string | null
  created_at: number
}

export interface ClientsTable {
  id: string
  name: string
  secret_hash: string | null
  is_public: number
  redirect_uris: string
  post_logout_redirect_uris: string
  grant_types: string
  scopes: string
  audience: string | null
  created_at: number
}

export interface ScopesTable {
  name: string
  description: string
}


export interface Database {
  users: UsersTable
  clients: ClientsTable
  scopes: ScopesTable
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type ClientRow = Selectable<ClientsTable>
export type NewClientRow = Insertable<ClientsTable>
export type ScopeRow = Selectable<ScopesTable>
