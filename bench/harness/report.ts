import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LoadResult } from './load-spec.js'
import { median } from './measure.js'
import { PAIRED_ROUNDS, PAIRED_SECONDS, PAIRED_WARM_UP_SECONDS, pairedRatio, type PairedRates } from './paired.js'
import { REPO_ROOT } from './processes.js'

export type ServerName = 'latchkey' | 'oidc-provider' | 'bare fastify' | 'RS module' | 'plain jose'

export interface WorkloadResult extends LoadResult {
  server: ServerName
  workload: string
  connections: number
}

export interface StartResult {
  server: ServerName
  /** Median of the starts, ms from spawn to the first 200. */
  startMs: number
  startsMs: number[]
  idleRssMiB: number | undefined
}

export interface RunInfo {
  date: string
  label: string
  node: string
  cpu: string
  pinning: string
  durationSeconds: number
  database: 'sqlite' | 'postgres'
  signingAlg: string
  /** The checkout measured, and its commit when it is a git checkout. */
  target: string
  targetCommit: string | undefined
  /** Versions of the peer, the load generator and the web framework. */
  versions: Record<string, string>
}

export interface Ratio {
  name: string
  value: number | undefined
  target: string
  pass: boolean | undefined
  /** For a ratio of paired rounds: the ratio of each round (value is their median). */
  perRound?: number[]
}

/** Loads run in alternation (paired.ts), by group: latchkey's grants, the bearer checks, the three servers' client_credentials. */
export interface PairedGroups {
  grants: PairedRates
  bearer: PairedRates
  servers: PairedRates
}

export interface BenchResults {
  run: RunInfo
  workloads: WorkloadResult[]
  starts: StartResult[]
  latchkeyPeakRssMiB: number | undefined
  cryptoLimits: Record<string, number>
  paired: PairedGroups
  ratios: Ratio[]
}

function p99(workloads: WorkloadResult[], server: ServerName): number | undefined {
  return workloads.find((w) => w.server === server && w.workload === 'client_credentials' && w.connections === 10)?.latencyP99Ms
}

function divide(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

/**
 * The issue's targets, each computed and marked; informative only. The throughput ratios come
 * from the paired rounds (the median of the per-round ratios); start, memory and p99 from the
 * servers' own runs.
 */
export function ratios(workloads: WorkloadResult[], starts: StartResult[], paired: PairedGroups): Ratio[] {
  const start = (server: ServerName) => starts.find((s) => s.server === server)
  const atLeast = (name: string, value: number | undefined, min: number): Ratio => ({ name, value, target: `≥ ${min}`, pass: value === undefined ? undefined : value >= min })
  const atMost = (name: string, value: number | undefined, max: number, strict = false): Ratio => ({
    name,
    value,
    target: `${strict ? '<' : '≤'} ${max}`,
    pass: value === undefined ? undefined : strict ? value < max : value <= max,
  })
  const inRounds = (name: string, rates: PairedRates, numerator: string, denominator: string, min: number): Ratio => {
    const ratio = pairedRatio(rates, numerator, denominator)
    return { ...atLeast(name, ratio?.median, min), ...(ratio ? { perRound: ratio.perRound } : {}) }
  }
  return [
    inRounds('cc@10: latchkey / oidc-provider', paired.servers, 'latchkey', 'oidc-provider', 1.3),
    inRounds('cc@10: latchkey / bare fastify', paired.servers, 'latchkey', 'bare fastify', 0.85),
    inRounds('authorization_code / cc@10', paired.grants, 'authorization_code', 'client_credentials', 0.7),
    inRounds('refresh_token / cc@10', paired.grants, 'refresh_token', 'client_credentials', 0.7),
    inRounds('bearer check: RS module / plain jose', paired.bearer, 'RS module', 'plain jose', 0.9),
    atMost('start: latchkey / oidc-provider', divide(start('latchkey')?.startMs, start('oidc-provider')?.startMs), 1),
    atMost('start: latchkey / bare fastify', divide(start('latchkey')?.startMs, start('bare fastify')?.startMs), 1.5),
    atMost('idle RSS latchkey (MiB)', start('latchkey')?.idleRssMiB, 64),
    atMost('idle RSS: latchkey / oidc-provider', divide(start('latchkey')?.idleRssMiB, start('oidc-provider')?.idleRssMiB), 1, true),
    atMost('p99 cc@10: latchkey / oidc-provider', divide(p99(workloads, 'latchkey'), p99(workloads, 'oidc-provider')), 1),
  ]
}

const round = (value: number | undefined, digits = 0) => (value === undefined ? '–' : value.toFixed(digits))
const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? 'pass' : 'FAIL')

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}

/** The markdown summary (also what the console shows): ready to paste into the README. */
export function markdown(results: BenchResults): string {
  const { run } = results
  const workloadRows = results.workloads.map((w) => [
    w.server,
    w.workload,
    String(w.connections),
    round(w.requestsPerSecond),
    round(w.latencyP50Ms, 1),
    round(w.latencyP99Ms, 1),
    String(w.errors),
    String(w.non2xx),
  ])
  const startRows = results.starts.map((s) => [s.server, round(s.startMs), round(s.idleRssMiB, 1)])
  const cryptoRows = Object.entries(results.cryptoLimits).map(([name, perSecond]) => [name, String(perSecond)])
  const ratioRows = results.ratios.map((r) => [r.name, round(r.value, 2), r.target, verdict(r.pass), r.perRound?.map((v) => v.toFixed(2)).join(', ') ?? ''])
  const pairedRows = (Object.entries(results.paired) as Array<[string, PairedRates]>).flatMap(([group, rates]) =>
    Object.entries(rates).map(([name, values]) => [group, name, values.map((v) => v.toFixed(0)).join(', '), round(median(values))]),
  )
  return [
    `## Benchmark ${run.date} (${run.label})`,
    '',
    `latchkey ${run.targetCommit ?? run.target} on ${run.database}, SIGNING_ALG ${run.signingAlg}; Node ${run.node}; ${run.cpu}; ${run.pinning}; ${run.durationSeconds} s per workload; ` +
      `${Object.entries(run.versions).map(([name, version]) => `${name} ${version}`).join(', ')}. Latencies have autocannon's 1 ms resolution.`,
    '',
    table(['server', 'workload', 'conn.', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx'], workloadRows),
    '',
    table(['server', 'start ms (median of 5)', 'idle RSS MiB'], startRows),
    '',
    `latchkey peak RSS after the workloads: ${round(results.latchkeyPeakRssMiB, 1)} MiB`,
    '',
    table(['one CPU', 'per second'], cryptoRows),
    '',
    `In alternation (${PAIRED_ROUNDS} rounds; each load once per round, ${PAIRED_WARM_UP_SECONDS} s unmeasured then ${PAIRED_SECONDS} s, a code round until its codes are used; the order reversed every other round):`,
    '',
    table(['group', 'load (10 connections)', 'req/s by round', 'median'], pairedRows),
    '',
    'Throughput ratios: the median of the per-round ratios of the loads above; start, memory and p99 from the runs of the first table.',
    '',
    table(['ratio', 'value', 'target', '', 'per round'], ratioRows),
    '',
  ].join('\n')
}

/** bench/results/<date>-<label>.json and .md; returns their paths. */
export async function writeResults(results: BenchResults): Promise<string[]> {
  const dir = join(REPO_ROOT, 'bench/results')
  await mkdir(dir, { recursive: true })
  const base = join(dir, `${results.run.date}-${results.run.label}`)
  await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`)
  await writeFile(`${base}.md`, markdown(results))
  return [`${base}.json`, `${base}.md`]
}
