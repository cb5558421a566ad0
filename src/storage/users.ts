import type { Kysely, Transaction } from 'kysely'
import { lockLiveRow } from './row-lock.js'
import type { Database, UserRow } from './database.js'
import { fromDbTime } from './convert.js'
import { containsIgnoringCase, type PageQuery } from './paging.js'
import { endUserAccess } from './revocation.js'

export interface User {
  id: string
  username: string
  passwordHash: string
  email: string | null
  name: string | null
  createdAt: number
  /** When the user was disabled; null while the user may sign in. */
  disabledAt: number | null
}

/** What `user update` may change; an absent field stays as it is, null clears email or name. */
export interface UserChanges {
  username?: string
  email?: string | null
  name?: string | null
}

export interface UserRepository {
  create(user: Omit<User, 'disabledAt'> & { disabledAt?: number | null }): Promise<void>
  findById(id: string): Promise<User | undefined>
  findByUsername(username: string): Promise<User | undefined>
  /** Users ordered by username (its unique index), after `after`, matching `search` in username, email or name. */
  list(query: PageQuery): Promise<User[]>
  update(id: string, changes: UserChanges): Promise<void>
  /** Stores a new password hash and ends the user's sessions and grants, in one transaction. */
  setPasswordHash(id: string, passwordHash: string, now: number): Promise<void>
  /**
   * Disables the user and, in the same transaction, revokes every refresh-token family (and
   * the access tokens issued from them), ends every login session and drops the unused codes
   * and the authorization requests the user was signed in to. False when already disabled (the
   * revocation runs all the same).
   */
  disable(id: string, now: number): Promise<boolean>
  /** False when the user was not disabled. */
  enable(id: string): Promise<boolean>
  /**
   * Whether the user exists and is not disabled, read under the user's row lock (lockActiveUser):
   * the check right before tokens that store nothing are issued.
   */
  confirmActive(id: string): Promise<boolean>
  /** Ends everything as `disable` does, then deletes the user and every row that names them. */
  remove(id: string, now: number): Promise<void>
}

/**
 * Inside a transaction that gives a user something (a session, tokens): whether the user still
 * exists and is not disabled, held true until the transaction ends (lockLiveRow). Callers take
 * it first, before other row locks, in the order disable takes them (no deadlock): a concurrent
 * disable or removal either committed first (and is seen here) or waits for this transaction
 * and then revokes what it wrote.
 */
export function lockActiveUser(trx: Kysely<Database>, userId: string): Promise<boolean> {
  return lockLiveRow(trx, { table: 'users', id: userId, endedBy: 'disabled_at' })
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    email: row.email,
    name: row.name,
    createdAt: fromDbTime(row.created_at),
    disabledAt: row.disabled_at === null ? null : fromDbTime(row.disabled_at),
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
          disabled_at: user.disabledAt ?? null,
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
    async list({ after, limit, search }) {
      let query = db.selectFrom('users').selectAll().orderBy('username').limit(limit)
      if (after !== undefined) query = query.where('username', '>', after)
      if (search !== undefined) {
        query = query.where((eb) =>
          eb.or([containsIgnoringCase(eb.ref('username'), search), containsIgnoringCase(eb.ref('email'), search), containsIgnoringCase(eb.ref('name'), search)]),
        )
      }
      return (await query.execute()).map(toUser)
    },
    async update(id, changes) {
      const set: { username?: string; email?: string | null; name?: string | null } = {}
      if (changes.username !== undefined) set.username = changes.username
      if (changes.email !== undefined) set.email = changes.email
      if (changes.name !== undefined) set.name = changes.name
      if (Object.keys(set).length === 0) return
      await db.updateTable('users').set(set).where('id', '=', id).execute()
    },
    async setPasswordHash(id, passwordHash, now) {
      const work = async (trx: Transaction<Database>) => {
        await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute()
        await endUserAccess(trx, id, now)
      }
      // Inside a caller's transaction (latchkey demo), part of it; otherwise one of its own.
      await (db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work))
    },
    async disable(id, now) {
      return db.transaction().execute(async (trx) => {
        const changed = await trx.updateTable('users').set({ disabled_at: now }).where('id', '=', id).where('disabled_at', 'is', null).executeTakeFirst()
        // Already disabled: revoke again all the same, so repeating `disable` cleans up anything
        // a sign-in that raced the first one may have left.
        await endUserAccess(trx, id, now)
        return Number(changed.numUpdatedRows) === 1
      })
    },
    async enable(id) {
      const changed = await db.updateTable('users').set({ disabled_at: null }).where('id', '=', id).where('disabled_at', 'is not', null).executeTakeFirst()
      return Number(changed.numUpdatedRows) === 1
    },
    async confirmActive(id) {
      return db.transaction().execute((trx) => lockActiveUser(trx, id))
    },
    async remove(id, now) {
      await db.transaction().execute(async (trx) => {
        // The row lock first, as disable takes it, so an issue in progress finishes before
        // (and is revoked here) or waits and then finds no user.
        await trx.updateTable('users').set((eb) => ({ id: eb.ref('id') })).where('id', '=', id).execute()
        await endUserAccess(trx, id, now)
        // Consents, codes, families, sessions and transactions go with it (ON DELETE CASCADE).
        await trx.deleteFrom('users').where('id', '=', id).execute()
      })
    },
  }
}
