import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { LoadResult, LoadSpec } from './load-spec.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export type Cpu = 'server' | 'load'

/** Servers run on CPU 0 and the load generator on CPU 1, when taskset and two CPUs exist. */
export interface Pinning {
  pinned: boolean
  description: string
}

export function detectPinning(): Pinning {
  const cpus = availableParallelism()
  const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0
  if (taskset && cpus >= 2) return { pinned: true, description: 'server processes on CPU 0, load generator on CPU 1 (taskset)' }
  const why = taskset ? `only ${cpus} CPU` : 'no taskset'
  return { pinned: false, description: `NOT pinned (${why}): server and load generator share the CPUs` }
}

function pinnedCommand(pinning: Pinning, cpu: Cpu, args: string[]): [string, string[]] {
  const node = [process.execPath, ...args]
  // taskset execs node, so the child's pid is node's (for /proc/<pid>/status).
  return pinning.pinned ? ['taskset', ['-c', cpu === 'server' ? '0' : '1', ...node]] : [node[0]!, node.slice(1)]
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface ServerSpec {
  name: string
  /** Node arguments: the script and its flags. */
  args: string[]
  env: Record<string, string>
  /** Where its stdout and stderr go (a file: logging stays on, as by default). */
  logFile: string
  /** A URL answering 200 once it serves. */
  readyUrl: string
}

export interface RunningServer {
  child: ChildProcess
  pid: number
  /** Milliseconds from spawn to the first 200 on readyUrl. */
  startMs: number
  stop(): Promise<void>
}

const READY_POLL_MS = 5
const READY_TIMEOUT_MS = 30_000

/** Spawns a server pinned to the server CPU and polls readyUrl every 5 ms until it answers 200. */
export async function startServer(pinning: Pinning, spec: ServerSpec): Promise<RunningServer> {
  const log = openSync(spec.logFile, 'a')
  const [command, args] = pinnedCommand(pinning, 'server', spec.args)
  const started = performance.now()
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...spec.env }, stdio: ['ignore', log, log] })
  closeSync(log)
  let exited: string | undefined
  child.once('exit', (code, signal) => (exited = `exited (${signal ?? code})`))
  const deadline = started + READY_TIMEOUT_MS
  for (;;) {
    if (exited !== undefined) throw new Error(`${spec.name} ${exited} before answering; see ${spec.logFile}:\n${tail(spec.logFile)}`)
    if (performance.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${spec.name} did not answer ${spec.readyUrl} within ${READY_TIMEOUT_MS} ms`)
    }
    const ok = await fetch(spec.readyUrl).then(
      async (res) => {
        await res.arrayBuffer()
        return res.status === 200
      },
      () => false,
    )
    if (ok) break
    await sleep(READY_POLL_MS)
  }
  const startMs = performance.now() - started
  return { child, pid: child.pid!, startMs, stop: () => stopChild(child) }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n')
  } catch {
    return ''
  }
}

/** VmRSS or VmHWM of a process in MiB, from /proc (Linux); undefined elsewhere. */
export function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}

/** Runs a Node script as a child pinned to `cpu`, writes `input` to its stdin, parses its stdout as JSON. */
export async function runJsonChild<T>(pinning: Pinning, cpu: Cpu, args: string[], input: unknown): Promise<T> {
  const [command, commandArgs] = pinnedCommand(pinning, cpu, args)
  const child = spawn(command, commandArgs, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stdin.end(JSON.stringify(input))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`)
  return JSON.parse(out) as T
}

/** One autocannon run in its own process on the load CPU. */
export function runLoad(pinning: Pinning, spec: LoadSpec): Promise<LoadResult> {
  return runJsonChild<LoadResult>(pinning, 'load', ['--import', 'tsx', 'bench/load.ts'], spec)
}
