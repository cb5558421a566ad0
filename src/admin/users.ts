import { randomUUID } from 'node:crypto'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import type { User, UserChanges, UserRepository } from '../storage/users.js'
import { AdminError, refuseControlCharacters } from './admin-error.js'
import { iso, pageQuery, toPage, type ListInput, type Page } from './paging.js'

export interface AddUserInput {
  username: string
  password: string
  email?: string | undefined
  name?: string | undefined
}

/** Who acts (a client_id, or `cli`), recorded with every change. */
export interface Acting {
  clock: Clock
  audit: AuditLog
  actor: string
}

/** Adding a user or a client predates `actor`: code that seeds them (tests, the demo) may leave it out. */
export type MaybeActing = Omit<Acting, 'actor'> & { actor?: string | undefined }

export interface UserView {
  id: string
  username: string
  email: string | null
  name: string | null
  created_at: string
  disabled: boolean
  disabled_at: string | null
}

const MIN_PASSWORD_LENGTH = 8
// Argon2 reads any length; a cap keeps one request from costing the server much memory or time.
const MAX_PASSWORD_LENGTH = 1024
const CONTROL = /[\x00-\x1f\x7f]/

export function userView(user: User): UserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    name: user.name,
    created_at: iso(user.createdAt),
    disabled: user.disabledAt !== null,
    disabled_at: user.disabledAt === null ? null : iso(user.disabledAt),
  }
}

function checkUsername(username: string): void {
  if (username === '' || username.length > 255 || CONTROL.test(username) || username.trim() !== username) {
    throw new AdminError('username must be 1 to 255 characters without control characters or surrounding spaces')
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AdminError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  if (password.length > MAX_PASSWORD_LENGTH) throw new AdminError(`password must be at most ${MAX_PASSWORD_LENGTH} characters`)
}

function checkEmail(email: string): void {
  if (email.length > 320 || !/^[^\s@]+@[^\s@]+$/.test(email)) throw new AdminError(`email "${email}" is not an email address`)
}

function checkName(name: string): void {
  if (name.length > 255 || CONTROL.test(name)) throw new AdminError('name must be at most 255 characters without control characters')
}

const taken = (username: string) => new AdminError(`username "${username}" is already taken`, 'conflict')

/** The user named `username`, or not_found. */
export async function findUser(users: UserRepository, username: string): Promise<User> {
  refuseControlCharacters({ username })
  const user = await users.findByUsername(username)
  if (!user) throw new AdminError(`no user "${username}"`, 'not_found')
  return user
}

export async function addUser(
  deps: MaybeActing & { users: UserRepository; passwords: PasswordHasher },
  input: AddUserInput,
): Promise<{ id: string; username: string }> {
  const username = input.username
  refuseControlCharacters({ username, email: input.email, name: input.name })
  checkUsername(username)
  checkPassword(input.password)
  if (input.email !== undefined) checkEmail(input.email)
  if (input.name !== undefined) checkName(input.name)
  if (await deps.users.findByUsername(username)) throw taken(username)
  const user = {
    id: randomUUID(),
    username,
    passwordHash: await deps.passwords.hash(input.password),
    email: input.email ?? null,
    name: input.name ?? null,
    createdAt: deps.clock.now(),
  }
  try {
    await deps.users.create(user)
  } catch (error) {
    // Two concurrent adds of one name: the unique index decides.
    if (await deps.users.findByUsername(username)) throw taken(username)
    throw error
  }
  deps.audit.record({ event: 'user_created', userId: user.id, ...(deps.actor === undefined ? {} : { actor: deps.actor }) })
  return { id: user.id, username }
}

export async function listUsers(deps: { users: UserRepository }, input: ListInput): Promise<Page<UserView>> {
  const query = pageQuery(input)
  return toPage(await deps.users.list(query), query.pageSize, (user) => user.username, userView)
}

export async function showUser(deps: { users: UserRepository }, username: string): Promise<UserView> {
  return userView(await findUser(deps.users, username))
}

/** `user update`: an absent field stays; an empty email or name clears it. */
export interface UpdateUserInput {
  username?: string | undefined
  email?: string | undefined
  name?: string | undefined
}

export async function updateUser(deps: Acting & { users: UserRepository }, username: string, input: UpdateUserInput): Promise<UserView> {
  refuseControlCharacters({ username: input.username, email: input.email, name: input.name })
  const changes: UserChanges = {}
  if (input.username !== undefined) {
    checkUsername(input.username)
    changes.username = input.username
  }
  if (input.email !== undefined) {
    if (input.email !== '') checkEmail(input.email)
    changes.email = input.email === '' ? null : input.email
  }
  if (input.name !== undefined) {
    if (input.name !== '') checkName(input.name)
    changes.name = input.name === '' ? null : input.name
  }
  const fields = Object.keys(changes)
  if (fields.length === 0) throw new AdminError('nothing to update: give --username, --email or --name')
  const user = await findUser(deps.users, username)
  if (changes.username !== undefined && changes.username !== user.username) {
    if (await deps.users.findByUsername(changes.username)) throw taken(changes.username)
  }
  try {
    await deps.users.update(user.id, changes)
  } catch (error) {
    // A concurrent rename or add took the name: the unique index decided.
    const holder = changes.username === undefined ? undefined : await deps.users.findByUsername(changes.username)
    if (holder !== undefined && holder.id !== user.id) throw taken(holder.username)
    throw error
  }
  deps.audit.record({ event: 'user_updated', userId: user.id, fields, actor: deps.actor })
  return userView({ ...user, ...changes })
}

/**
 * A new password, hashed with argon2id. The user's sessions end and their refresh tokens are
 * revoked with it (RFC 9700 §4.14.2 allows revocation on a password change): a reset after a
 * suspected compromise must sign out whoever had the old one.
 */
export async function setPassword(deps: Acting & { users: UserRepository; passwords: PasswordHasher }, username: string, password: string): Promise<UserView> {
  checkPassword(password)
  const user = await findUser(deps.users, username)
  await deps.users.setPasswordHash(user.id, await deps.passwords.hash(password), deps.clock.now())
  deps.audit.record({ event: 'user_password_set', userId: user.id, actor: deps.actor })
  return userView(user)
}

/**
 * Disabling a disabled user succeeds, so a script can repeat it; it records no second event but
 * revokes again whatever the user holds (a sign-in racing the first disable is cleaned up).
 */
export async function disableUser(deps: Acting & { users: UserRepository }, username: string): Promise<UserView> {
  const user = await findUser(deps.users, username)
  const now = deps.clock.now()
  if (!(await deps.users.disable(user.id, now))) return userView(user)
  deps.audit.record({ event: 'user_disabled', userId: user.id, actor: deps.actor })
  return userView({ ...user, disabledAt: now })
}

export async function enableUser(deps: Acting & { users: UserRepository }, username: string): Promise<UserView> {
  const user = await findUser(deps.users, username)
  if (await deps.users.enable(user.id)) deps.audit.record({ event: 'user_enabled', userId: user.id, actor: deps.actor })
  return userView({ ...user, disabledAt: null })
}

export async function removeUser(deps: Acting & { users: UserRepository }, username: string): Promise<{ id: string; username: string }> {
  const user = await findUser(deps.users, username)
  await deps.users.remove(user.id, deps.clock.now())
  deps.audit.record({ event: 'user_removed', userId: user.id, actor: deps.actor })
  return { id: user.id, username: user.username }
}
