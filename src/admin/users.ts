import type { AuditLog } from '../audit.js'
import { randomUUID } from 'node:crypto'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { Clock } from '../clock.js'
import type { UserRepository } from '../storage/users.js'
import { AdminError } from './admin-error.js'

export interface AddUserInput {
  username: string
  password: string
  email?: string | undefined
  name?: string | undefined
}

const MIN_PASSWORD_LENGTH = 8
const CONTROL = /[\x00-\x1f\x7f]/

export async function addUser(
  deps: { users: UserRepository; passwords: PasswordHasher; clock: Clock; audit: AuditLog },
  input: AddUserInput,
): Promise<{ id: string; username: string }> {
  const username = input.username
  if (username === '' || username.length > 255 || CONTROL.test(username) || username.trim() !== username) {
    throw new AdminError('username must be 1 to 255 characters without control characters or surrounding spaces')
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new AdminError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  }
  if (input.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(input.email)) {
    throw new AdminError(`email "${input.email}" is not an email address`)
  }
  if (await deps.users.findByUsername(username)) throw new AdminError(`username "${username}" is already taken`)
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
    if (await deps.users.findByUsername(username)) throw new AdminError(`username "${username}" is already taken`)
    throw error
  }
  deps.audit.record({ event: 'user_created', userId: user.id })
  return { id: user.id, username }
}
