import type { Kysely } from 'kysely'
import type { Database, UserRow } from './database.js'
import { fromDbTime } from './convert.js'

export interface User {
  id: string
  username: string
  passwordHash: string
  email: string | null
  name: string | null
  createdAt: number
}

export interface UserRepository {
  create(user: User): Promise<void>
  findById(id: string): Promise<User | undefined>
  findByUsername(username: string): Promise<User | undefined>
  setPasswordHash(id: string, passwordHash: string): Promise<void>
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    email: row.email,
    name: row.name,
    createdAt: fromDbTime(row.created_at),
  }
}

export function userRepository(db: Kysely<Database>): UserRepository {
  return {
    async create(user) {
      await db
        .insertInto('users')
        .values({
          id: user.id,
          username: user.username,
          password_hash: user.passwordHash,
          email: user.email,
          name: user.name,
          created_at: user.createdAt,
        })
        .execute()
    },
    async findById(id) {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toUser(row)
    },
    async findByUsername(username) {
      const row = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
      return row && toUser(row)
    },
    async setPasswordHash(id, passwordHash) {
      await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute()
    },
  }
}
