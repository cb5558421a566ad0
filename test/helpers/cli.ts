import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { staleDist } from './dist.js'
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

/** What `npm start` and `bin/latchkey.js` run, built from these entry points of src/. */
const BUILT: Readonly<Record<string, string>> = { 'src/main.ts': 'dist/server/main.js', 'src/cli/main.ts': 'dist/cli/main.js' }

let distCurrent: boolean | undefined

/**
 * Node's arguments to run an entry point of src/ as its own process: its build when dist/ is
 * the build of the sources as they are (`npm ci` makes it so; test/helpers/dist.ts), else the
 * source through tsx, so no build is needed. The build is what users run, and it starts in a
 * third of tsx's CPU time, which the suite's hundred-odd CLI and server processes add up.
 */
export function entryArgs(entry: string): string[] {
  const built = BUILT[entry]
  if (distCurrent === undefined) {
    const stale = staleDist(root)
    distCurrent = stale === undefined
    if (stale !== undefined) process.stderr.write(`dist/ is not current (${stale}; \`npm run build\` makes it so): this test file's processes start from src/ through tsx\n`)
  }
  return built !== undefined && distCurrent ? [built] : ['--import', 'tsx', entry]
}

/** Runs an entry point of src/ as its own process (see entryArgs). */
export function runNode(entry: string, args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('env', [...UNTRACKED, process.execPath, ...entryArgs(entry), ...args], {
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
