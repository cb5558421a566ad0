import { setTimeout as sleep } from 'node:timers/promises'
import type { LoadSpec } from './load-spec.js'
import { memoryMiB, runLoad, startServer, type Pinning, type RunningServer, type ServerSpec } from './processes.js'
import type { ServerName, StartResult, WorkloadResult } from './report.js'

const STARTS = 5
const IDLE_WAIT_MS = 2_000

const started = performance.now()

/** A progress line on stderr, with the time since the run began. */
export function progress(message: string): void {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`)
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Starts the server five times (spawn → first 200) and keeps the last one running; its RSS is
 * read two seconds after its first answer.
 */
export async function measureStarts(pinning: Pinning, server: ServerName, spec: ServerSpec): Promise<{ start: StartResult; running: RunningServer }> {
  const startsMs: number[] = []
  for (let i = 1; ; i++) {
    const running = await startServer(pinning, spec)
    startsMs.push(running.startMs)
    if (i === STARTS) {
      await sleep(IDLE_WAIT_MS)
      const start = { server, startMs: median(startsMs), startsMs, idleRssMiB: memoryMiB(running.pid, 'VmRSS') }
      progress(`${server}: start ${start.startMs.toFixed(0)} ms (median of ${STARTS}), idle RSS ${start.idleRssMiB?.toFixed(1) ?? '?'} MiB`)
      return { start, running }
    }
    await running.stop()
  }
}

export interface Workload {
  server: ServerName
  workload: string
  spec: LoadSpec
}

/** Runs one workload in the load-generator process; a wrong first answer fails the run. */
export async function runWorkload(pinning: Pinning, { server, workload, spec }: Workload): Promise<WorkloadResult> {
  progress(`${server}: ${workload} at ${spec.connections} connections…`)
  const result = await runLoad(pinning, spec)
  if (result.firstAnswerProblem !== undefined) throw new Error(`${server} ${workload}: the first answer is wrong: ${result.firstAnswerProblem}`)
  const flags = result.errors + result.non2xx > 0 ? `  (${result.errors} errors, ${result.non2xx} non-2xx)` : ''
  progress(`  ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.latencyP50Ms} ms, p99 ${result.latencyP99Ms} ms${flags}`)
  return { server, workload, connections: spec.connections, ...result }
}
