import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { REPO_ROOT } from './processes.js'

export interface BenchOptions {
  /** The checkout whose built latchkey (dist/main.js, bin/latchkey.js) is measured. */
  target: string
  durationSeconds: number
  warmUpSeconds: number
  /** A PostgreSQL server to create a temporary database on; undefined: a temporary SQLite file. */
  databaseUrl: string | undefined
  label: string
  /** SIGNING_ALG passed through to latchkey; the peers sign with the same algorithm. */
  signingAlg: string | undefined
}

const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA']

export function readOptions(env: NodeJS.ProcessEnv): BenchOptions {
  const target = resolve(env.BENCH_TARGET || REPO_ROOT)
  for (const file of ['dist/main.js', 'bin/latchkey.js']) {
    if (!existsSync(resolve(target, file))) throw new Error(`BENCH_TARGET: ${resolve(target, file)} is missing (build that checkout first)`)
  }
  const durationSeconds = Number(env.BENCH_DURATION || 8)
  if (!Number.isFinite(durationSeconds) || durationSeconds < 1 || durationSeconds > 120) throw new Error('BENCH_DURATION must be 1 to 120 seconds')
  const databaseUrl = env.BENCH_DATABASE_URL || undefined
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error('BENCH_DATABASE_URL must be a postgres:// URL')
  const label = env.BENCH_LABEL || 'latest'
  if (!/^[\w.-]+$/.test(label)) throw new Error('BENCH_LABEL may hold letters, digits, ".", "_" and "-" only')
  const signingAlg = env.SIGNING_ALG || undefined
  if (signingAlg !== undefined && !SIGNING_ALGS.includes(signingAlg)) throw new Error(`SIGNING_ALG must be one of ${SIGNING_ALGS.join(', ')}`)
  return { target, durationSeconds, warmUpSeconds: Math.min(2, Math.max(1, durationSeconds / 4)), databaseUrl, label, signingAlg }
}
