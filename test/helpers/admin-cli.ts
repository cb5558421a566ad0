import { join } from 'node:path'
import type { Test } from 'tap'
import type { CliRun } from './cli.js'

export type Runner = (args: string[], options?: { env?: Record<string, string>; input?: string }) => Promise<CliRun>

export function envFor(t: Test) {
  const dir = t.testdir()
  return { DATABASE_URL: join(dir, 'db', 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys') }
}

/** Runs a command that must succeed with --json and returns its one JSON value. */
export async function json(t: Test, runCli: Runner, args: string[], options: { env: Record<string, string>; input?: string }): Promise<Record<string, unknown>> {
  const run = await runCli([...args, '--json'], options)
  t.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`)
  return JSON.parse(run.stdout) as Record<string, unknown>
}

/** A command that must fail: exit 1, one stderr line matching `message`, nothing on stdout. */
export async function fails(t: Test, runCli: Runner, args: string[], message: RegExp, options: { env: Record<string, string>; input?: string }) {
  const run = await runCli(args, options)
  t.equal(run.code, 1, args.join(' '))
  t.equal(run.stdout, '')
  // Ours say `latchkey: …`; commander's own (a missing required option) say `error: …`.
  t.match(run.stderr, /^(latchkey|error): [^\n]*\n$/, 'one line on stderr')
  t.match(run.stderr, message)
}

/** The audit lines the CLI wrote on stderr. */
export function auditOf(run: CliRun): Array<Record<string, unknown>> {
  return run.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
}

