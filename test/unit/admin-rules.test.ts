import t from 'tap'
import { AdminError } from '../../src/admin/admin-error.js'
import { addClient } from '../../src/admin/clients.js'
import { pageQuery, toPage } from '../../src/admin/paging.js'
import { listSessions } from '../../src/admin/sessions.js'
import { addUser, updateUser } from '../../src/admin/users.js'
import { repositories } from '../../src/storage/repositories.js'
import { sqliteCase } from '../helpers/db.js'
import { NO_AUDIT } from '../../src/audit.js'
import type { User, UserRepository } from '../../src/storage/users.js'
import { FakeClock } from '../helpers/clock.js'
import { testPasswords } from '../helpers/passwords.js'

const clock = new FakeClock()
const alice: User = { id: 'u-1', username: 'alice', passwordHash: 'h', email: null, name: null, createdAt: 0, disabledAt: null }

/** A user store where another writer takes `taken` between the check and the write. */
function racingUsers(taken: string): UserRepository {
  let written = false
  return {
    async findByUsername(username) {
      if (username === 'alice') return alice
      return username === taken && written ? { ...alice, id: 'u-2', username } : undefined
    },
    async create() {
      written = true
      throw new Error('UNIQUE constraint failed: users.username')
    },
    async update() {
      written = true
      throw new Error('UNIQUE constraint failed: users.username')
    },
  } as Partial<UserRepository> as UserRepository
}

t.test('a username taken by a concurrent writer is a conflict, whatever the database said', async (t) => {
  await t.rejects(addUser({ users: racingUsers('bob'), passwords: testPasswords, clock, audit: NO_AUDIT }, { username: 'bob', password: 'long enough' }), { kind: 'conflict', message: /already taken/ })
  await t.rejects(updateUser({ users: racingUsers('bob'), clock, audit: NO_AUDIT, actor: 'cli' }, 'alice', { username: 'bob' }), { kind: 'conflict', message: /already taken/ })
  // Any other failure is not hidden as a conflict.
  await t.rejects(addUser({ users: racingUsers('other'), passwords: testPasswords, clock, audit: NO_AUDIT }, { username: 'bob', password: 'long enough' }), /UNIQUE/)
  await t.rejects(updateUser({ users: racingUsers('other'), clock, audit: NO_AUDIT, actor: 'cli' }, 'alice', { username: 'bob' }), /UNIQUE/)
})

t.test('pageQuery: limits, searches and cursors', async (t) => {
  t.match(pageQuery({}), { pageSize: 50, limit: 51, after: undefined, search: undefined })
  t.match(pageQuery({ limit: '500', search: '  ' }), { pageSize: 500, search: undefined }, 'a blank search is none')
  t.match(pageQuery({ limit: 1, search: ' bob ' }), { pageSize: 1, search: 'bob' })
  t.throws(() => pageQuery({ search: 'x'.repeat(256) }), { message: /--search must be at most 255/ })
  t.throws(() => pageQuery({ after: '' }), { message: /not a cursor/ })
  const page = toPage(['a', 'b', 'c'], 2, (row) => row, (row) => row.toUpperCase())
  t.same(page.items, ['A', 'B'])
  t.same(pageQuery({ after: page.next as string }).after, 'b', 'the cursor names the last item shown')
})

t.test('AdminError defaults to invalid', async (t) => {
  t.equal(new AdminError('x').kind, 'invalid')
})

t.test('an admin client needs the issuer to know its audience', async (t) => {
  const deps = { clients: { create: async () => {} }, scopes: { findByNames: async () => [] }, clock, audit: NO_AUDIT } as unknown as Parameters<typeof addClient>[0]
  await t.rejects(addClient(deps, { name: 'Ops', admin: true }), /issuer is needed/)
  await t.rejects(addClient(deps, { name: ' ' }), { message: /--name must be 1 to 255/ })
  await t.rejects(addClient(deps, { name: 'x', grants: ['client_credentials'], scope: 'a "b"' }), { message: /not a space-separated list/ })
})

t.test('sessions list refuses a search (a session names nothing to search by) rather than ignore it', async (t) => {
  const repos = repositories(await sqliteCase.open(t))
  await t.rejects(listSessions({ users: repos.users, sessions: repos.sessions, clock }, 'alice', { search: 'x' }), { kind: 'invalid', message: /no --search/ })
})
