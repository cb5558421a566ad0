import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { testPasswords } from './passwords.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * tap's process tracking adds its coverage hooks to every child's NODE_OPTIONS; a child that
 * loads src/ through tsx would then report coverage against other line maps and corrupt the
 * merged report. `env -u` drops them: these children are checked by their output, and the
 * same code is covered in-process.
 */
export const UNTRACKED = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE']

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a TypeScript entry point of src/ as its own process (through tsx, so no build is needed). */
export function runNode(entry: string, args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('env', [...UNTRACKED, process.execPath, '--import', 'tsx', entry, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
}

export function runCli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  return runNode('src/cli/main.ts', args, options)
}

/**
 * Runs the CLI program in this process (so its code counts toward coverage), with the same result
 * shape, hashing passwords at the tests' cheap argon2 costs.
 */
export async function runCliInProcess(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  const { runCli: run } = await import('../../src/cli/program.js')
  let stdout = ''
  let stderr = ''
  const code = await run(['node', 'latchkey', ...args], {
    env: { ...options.env },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    readStdin: () => options.input ?? '',
    passwords: testPasswords,
  })
  return { code, stdout, stderr }
}
