import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { loadKeyStore } from '../src/keys/key-store.js'
import { connect } from '../src/storage/connect.js'
import { migrate } from '../src/storage/migrate.js'

export interface BenchResult {
  name: string
  opsPerSec: number
}

/** Requests per second through app.inject (no network), for a fixed time after a warm-up. */
export async function benchHttp(durationMs = 1500): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'))
  const store = connect({ kind: 'sqlite', path: join(dir, 'db.sqlite') })
  await migrate(store)
  const app = await buildApp(loadConfig({}), { store, keys: await loadKeyStore(join(dir, 'keys')) })
  const results: BenchResult[] = []
  try {
    for (const url of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/healthz']) {
      for (let i = 0; i < 200; i++) await app.inject(url)
      let n = 0
      const start = performance.now()
      while (performance.now() - start < durationMs) {
        await app.inject(url)
        n++
      }
      results.push({ name: `GET ${url} (inject)`, opsPerSec: Math.round((n * 1000) / (performance.now() - start)) })
    }
  } finally {
    await app.close()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
  return results
}
