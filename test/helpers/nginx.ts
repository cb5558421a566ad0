import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { partMissing } from './required-part.js'
import { eventually } from './server-process.js'

/** Debian's nginx (`apt-get install nginx`); .ci/run installs it. */
export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx'

/** The response header naming the instance (its address) that answered through nginx. */
export const UPSTREAM_HEADER = 'x-latchkey-upstream'

/** Whether this run can start nginx; otherwise skips (a developer's run) or fails (CI). */
export function nginxAvailable(t: Test): boolean {
  if (existsSync(NGINX_PATH)) return true
  return partMissing(t, `no nginx at ${NGINX_PATH}: install Debian's nginx (apt-get install nginx) or set NGINX_PATH`)
}

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The ```nginx block README.md's "Running several instances" shows, after its marker. */
export function readmeNginxConfig(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const block = /<!-- several-instances-nginx -->\s*```nginx\n([\s\S]*?)```/.exec(readme)?.[1]
  if (!block) throw new Error('README.md has no several-instances-nginx block')
  return block
}

function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) throw new Error(`README.md's nginx block: ${what} not found (${pattern})`)
  return text.replace(pattern, replacement)
}

/**
 * README.md's nginx configuration, as the test runs it: its `upstream` lists `upstreams`
 * (host:port), it listens on 127.0.0.1:`port` without TLS, names the answering instance in a
 * response header (so tests can see the round robin), and keeps every file inside `dir`.
 */
export function nginxConfig(options: { dir: string; port: number; upstreams: readonly string[] }): string {
  const { dir, port, upstreams } = options
  let site = readmeNginxConfig().replace(/^\s*server\s+[\w.:[\]-]+;.*\n/gm, '')
  site = replaceOnce(site, /upstream latchkey \{\n/, `upstream latchkey {\n${upstreams.map((u) => `    server ${u};\n`).join('')}`, 'the upstream')
  site = replaceOnce(site, /listen 443 ssl;/, `listen 127.0.0.1:${port};`, 'listen 443 ssl')
  site = replaceOnce(site, /# The test also adds: (add_header X-Latchkey-Upstream \$upstream_addr always;)/, '$1', 'the upstream header')
  // As root, nginx would run its worker as nobody, who may not enter a private temporary directory.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : ''
  return `${user}worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} notice;
events { worker_connections 256; }
http {
access_log ${join(dir, 'access.log')};
client_body_temp_path ${join(dir, 'tmp', 'client_body')};
proxy_temp_path ${join(dir, 'tmp', 'proxy')};
fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
scgi_temp_path ${join(dir, 'tmp', 'scgi')};
${site}}
`
}

export interface Nginx {
  origin: string
  /** Its error log so far (startup problems, upstream errors). */
  errorLog(): string
}

/**
 * Starts nginx in the foreground as a child, on 127.0.0.1:`port`, in front of `upstreams`;
 * resolves once it answers through to an upstream. Stopped (SIGTERM, its fast shutdown, which
 * also ends its worker) at teardown.
 */
export async function startNginx(t: Test, options: { dir: string; port: number; upstreams: readonly string[] }): Promise<Nginx> {
  const { dir, port } = options
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig(options))
  // -e: the log for errors before the configuration is read (else /var/log/nginx/error.log).
  const child = spawn(NGINX_PATH, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  let exited: number | null | undefined
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code
      resolve()
    }),
  )
  t.teardown(async () => {
    if (exited !== undefined) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exit
    clearTimeout(timer)
  })
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8')
    } catch {
      return ''
    }
  }
  const origin = `http://127.0.0.1:${port}`
  await eventually('nginx answering through to latchkey', 10_000, async () => {
    if (exited !== undefined) throw new Error(`nginx exited ${exited}: ${out}${errorLog()}`)
    const res = await fetch(`${origin}/healthz`).catch(() => undefined)
    return res?.status === 200 && res.headers.has(UPSTREAM_HEADER) ? true : undefined
  })
  return { origin, errorLog }
}
