import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDatabase } from './harness/database.js'
import { progress } from './harness/measure.js'
import { readOptions } from './harness/options.js'
import { detectPinning, REPO_ROOT, runJsonChild } from './harness/processes.js'
import { interleave, PAIRED_ROUNDS, PAIRED_SECONDS, PAIRED_WARM_UP_SECONDS, type PairedRates } from './harness/paired.js'
import { markdown, ratios, writeResults, type BenchResults } from './harness/report.js'
import { latchkeySuite, peerSuite, type SuiteResult } from './harness/suites.js'
import { transpilePeers } from './harness/transpile.js'

// npm run bench: latchkey, node-oidc-provider and a bare fastify app as real processes on CPU 0,
// loaded by autocannon from another process on CPU 1. See bench/README.md.

/** Workloads in a run: latchkey 9, resource servers 2, oidc-provider 5, bare fastify 3. */
const WORKLOADS = 19

const options = readOptions(process.env)
const pinning = detectPinning()
/** Set-up, starts, preparing codes and the signature limits take about this long besides the workloads. */
const OVERHEAD_SECONDS = 150
/** The paired rounds: latchkey's three grants, the two bearer checks, the three servers' client_credentials; each load about a second more than it runs. */
const PAIRED_LOADS = PAIRED_ROUNDS * (3 + 2 + 3)
const estimate = WORKLOADS * (options.durationSeconds + options.warmUpSeconds) + PAIRED_LOADS * (PAIRED_WARM_UP_SECONDS + PAIRED_SECONDS + 1) + OVERHEAD_SECONDS
progress(`${options.durationSeconds} s per workload, about ${Math.ceil(estimate / 60)} min in all; ${pinning.description}`)

async function versions(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    ['oidc-provider', 'autocannon', 'fastify', 'jose'].map(async (name) => {
      const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
      return [name, manifest.version] as const
    }),
  )
  return Object.fromEntries(entries)
}

function commitOf(dir: string): string | undefined {
  const git = spawnSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' })
  return git.status === 0 ? git.stdout.trim() : undefined
}

const tmpDir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'))
const database = await createDatabase(options.databaseUrl, tmpDir)
let interrupted = false
process.once('SIGINT', () => {
  interrupted = true
  progress('interrupted: cleaning up')
})
try {
  const peersDir = await transpilePeers()
  const ctx = { pinning, options, tmpDir, peersDir, databaseUrl: database.url }

  progress('limits of the work: signatures and verifications per second on the server CPU')
  const cryptoLimits = await runJsonChild<Record<string, number>>(pinning, 'server', ['--import', 'tsx', 'bench/crypto-limits.ts'], {
    seconds: Math.min(2, options.durationSeconds / 2),
  })

  const latchkey = await latchkeySuite(ctx)
  const others: SuiteResult[] = []
  let servers: PairedRates
  try {
    for (const name of ['oidc-provider', 'bare fastify'] as const) others.push(await peerSuite(ctx, name))
    // The three servers, all still running, in alternation.
    servers = await interleave(pinning, 'client_credentials at 10 connections', [
      { name: 'latchkey', load: () => latchkey.cc10 },
      { name: 'oidc-provider', load: () => others[0]!.cc10 },
      { name: 'bare fastify', load: () => others[1]!.cc10 },
    ])
  } finally {
    for (const suite of [latchkey, ...others]) await suite.running.stop()
  }
  const [peer, bare] = others as [SuiteResult, SuiteResult]
  const workloads = [...latchkey.workloads, ...latchkey.resourceServers, ...peer.workloads, ...bare.workloads]
  const starts = [latchkey.start, peer.start, bare.start]
  const results: BenchResults = {
    run: {
      date: new Date().toISOString().slice(0, 10),
      label: options.label,
      node: process.version,
      cpu: `${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} CPUs)`,
      pinning: pinning.description,
      durationSeconds: options.durationSeconds,
      database: database.kind,
      signingAlg: options.signingAlg ?? 'default',
      target: options.target,
      targetCommit: commitOf(options.target),
      versions: await versions(),
    },
    workloads,
    starts,
    latchkeyPeakRssMiB: latchkey.peakRssMiB,
    cryptoLimits,
    paired: { ...latchkey.paired, servers },
    ratios: ratios(workloads, starts, { ...latchkey.paired, servers }),
  }
  console.log(markdown(results))
  const files = await writeResults(results)
  progress(`written: ${files.join(', ')}`)
  const failed = workloads.filter((w) => w.errors + w.non2xx > 0)
  if (failed.length > 0) progress(`WARNING: errors or non-2xx answers in ${failed.map((w) => `${w.server} ${w.workload}@${w.connections}`).join(', ')}`)
} finally {
  await database.drop()
  await rm(tmpDir, { recursive: true, force: true })
  if (interrupted) process.exitCode = 130
}
