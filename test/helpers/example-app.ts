import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { UNTRACKED } from './cli.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

export const CHROMIUM = '/usr/bin/chromium'
/** Flags that work offline and in a container (ARCHITECTURE.md, issue 15). */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']

/**
 * Why the browser tests cannot run here, or undefined when they can. Without Chromium they are
 * skipped on a developer's machine, but under CI (which installs it) they must fail instead.
 */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  return `${CHROMIUM} is not installed (apt-get install chromium); browser tests skipped`
}

/** Chromium through playwright-core, with a fresh profile removed at teardown. */
export async function launchChromium(t: Test) {
  const { chromium } = await import('playwright-core')
  const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'))
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/**
 * Starts a TypeScript entry point (through tsx) as a listening process and resolves once its
 * stdout or stderr matches `ready`; killed at teardown. What it printed is kept for failures.
 */
export async function startProcess(t: Test, entry: string, env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('env', [...UNTRACKED, process.execPath, '--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start within 30 s:\n${out}`)), 30_000)
    const check = (d: Buffer) => {
      out += d.toString()
      if (ready.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${entry} exited with ${code}:\n${out}`))
    })
  })
  return { child, output: () => out }
}
