import { randomBytes, randomUUID } from 'node:crypto'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { secondFactors } from '../../src/accounts/totp.js'
import type { AuditEvent } from '../../src/audit.js'
import type { Store } from '../../src/storage/connect.js'
import { repositories } from '../../src/storage/repositories.js'
import { FakeClock } from './clock.js'

/** secondFactors on `store` with a key of its own, a fake clock and the events it records. */
export function totpFixture(store: Store) {
  const clock = new FakeClock()
  const events: AuditEvent[] = []
  const repos = repositories(store)
  const key = randomBytes(32)
  const factors = secondFactors({ factors: repos.secondFactors, secrets: keySecretBox(key), clock, issuer: 'Example Co', audit: { record: (e) => void events.push(e) } })
  return { clock, events, repos, key, factors }
}

export async function addUser(store: Store, username = 'alice'): Promise<string> {
  const id = randomUUID()
  await repositories(store).users.create({ id, username, passwordHash: 'x', email: null, name: null, createdAt: 0 })
  return id
}

