import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { REPO_ROOT } from './processes.js'

export interface BenchOptions {
  /** The checkout whose built latchkey (what its `npm start` runs, and bin/latchkey.js) is measured. */
  target: string
  /** The script the target's `npm start` runs (dist/server/main.js, the bundle; older checkouts: dist/main.js). */
  serverScript: string
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
  const serverScript = startScript(target)
  for (const file of [serverScript, 'bin/latchkey.js']) {
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
  // Each load first runs unmeasured for this long: V8 takes some seconds at these rates to
  // optimise a server's whole request path (latchkey's has more code than the ceiling's), and a
  // server that has run for hours is what users meet.
  const warmUpSeconds = Number(env.BENCH_WARMUP ?? 5)
  if (!Number.isFinite(warmUpSeconds) || warmUpSeconds < 0 || warmUpSeconds > 30) throw new Error('BENCH_WARMUP must be 0 to 30 seconds')
  return { target, serverScript, durationSeconds, warmUpSeconds, databaseUrl, label, signingAlg }
}

/** The file `npm start` runs in `target`: its package.json's `start` script is `node <file>`. */
function startScript(target: string): string {
  const manifest = JSON.parse(readFileSync(resolve(target, 'package.json'), 'utf8')) as { scripts?: { start?: string } }
  const match = /^node (\S+\.js)$/.exec(manifest.scripts?.start ?? '')
  if (!match?.[1]) throw new Error(`BENCH_TARGET: ${target}/package.json has no "start": "node <file>.js" script`)
  return match[1]
}
