import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { productionPasswords } from '../src/accounts/passwords.js'
import { addClient } from '../src/admin/clients.js'
import { addScope } from '../src/admin/scopes.js'
import { addUser } from '../src/admin/users.js'
import { buildApp } from '../src/app.js'
import { systemClock } from '../src/clock.js'
import { loadConfig } from '../src/config.js'
import { loadKeyStore } from '../src/keys/key-store.js'
import { connect } from '../src/storage/connect.js'
import { migrate } from '../src/storage/migrate.js'
import { repositories } from '../src/storage/repositories.js'
import { newFamily, newRefreshToken } from '../src/tokens/refresh-token.js'
import type { BenchResult } from './http.js'
import { NO_AUDIT } from '../src/audit.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/**
 * /token on its hot paths, through app.inject on a file SQLite database (rate limits off):
 * client_credentials (SHA-256 secret check, one signature, no write) and refresh_token
 * (lookup, one signature, one rotation transaction).
 */
export async function benchTokens(durationMs = 1500): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'))
  const store = connect({ kind: 'sqlite', path: join(dir, 'db.sqlite') })
  await migrate(store)
  const config = loadConfig({})
  const app = await buildApp(config, { store, keys: await loadKeyStore(join(dir, 'keys')) })
  const repos = repositories(store)
  const deps = { clients: repos.clients, scopes: repos.scopes, users: repos.users, passwords: productionPasswords, clock: systemClock, audit: NO_AUDIT }
  try {
    await addScope(deps, { name: 'bench', description: 'Bench' })
    const service = await addClient(deps, { name: 'bench-service', grants: ['client_credentials'], scope: 'bench' })
    const basic = `Basic ${Buffer.from(`${service.client_id}:${service.client_secret as string}`).toString('base64')}`
    const cc = await timed('POST /token client_credentials (inject)', durationMs, async () => {
      const res = await app.inject({ method: 'POST', url: '/token', headers: { ...FORM, authorization: basic }, payload: 'grant_type=client_credentials' })
      if (res.statusCode !== 200) throw new Error(res.body)
    })

    const user = await addUser(deps, { username: 'bench', password: 'bench-password' })
    const web = await addClient(deps, { name: 'bench-web', isPublic: true, redirectUris: ['https://app.example/cb'] })
    const now = systemClock.now()
    const family = newFamily({ clientId: web.client_id, userId: user.id, scopes: ['openid'], audience: config.defaultAudience, authTime: now, beganWithOpenid: true, createdAt: now })
    const first = newRefreshToken(family, now, { ttlSeconds: config.refreshTokenTtlSeconds, maxTtlSeconds: config.refreshTokenMaxTtlSeconds })
    await repos.refreshTokens.createFamily({
      family,
      token: first.record,
      accessToken: { jti: 'bench', clientId: web.client_id, codeId: null, familyId: family.id, createdAt: now, expiresAt: now + 1000 },
    })
    let token = first.token
    const refresh = await timed('POST /token refresh_token rotation (inject)', durationMs, async () => {
      const payload = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: web.client_id }).toString()
      const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload })
      if (res.statusCode !== 200) throw new Error(res.body)
      token = (res.json() as { refresh_token: string }).refresh_token
    })
    return [cc, refresh]
  } finally {
    await app.close()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function timed(name: string, durationMs: number, op: () => Promise<void>): Promise<BenchResult> {
  for (let i = 0; i < 50; i++) await op()
  let n = 0
  const start = performance.now()
  while (performance.now() - start < durationMs) {
    await op()
    n++
  }
  return { name, opsPerSec: Math.round((n * 1000) / (performance.now() - start)) }
}
