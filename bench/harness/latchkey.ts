import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { hiddenInputs } from '../../test/helpers/browser.js'
import { FetchBrowser, isRedirect } from '../../test/helpers/fetch-browser.js'

// Latchkey set up and driven from outside, as an operator and a user would: its CLI for the
// clients and the user, its /authorize pages for the sign-in, its /token for the tokens.

export const SCOPE = 'bench:read'
export const REDIRECT_URI = 'http://127.0.0.1:9/callback'
const USERNAME = 'bench-user'
const PASSWORD = randomBytes(18).toString('base64url')

export interface Credentials {
  clientId: string
  clientSecret: string
}

export interface LatchkeyClients {
  service: Credentials
  web: Credentials
  api: Credentials
}

/** Runs `latchkey <args> --json` from the target's bin/; resolves with the parsed output. */
async function cli<T>(target: string, env: Record<string, string>, args: string[], stdin = ''): Promise<T> {
  const child = spawn(process.execPath, [join(target, 'bin/latchkey.js'), ...args, '--json'], {
    cwd: target,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  child.stdin.end(stdin)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`latchkey ${args.slice(0, 2).join(' ')} exited ${code}: ${err.trim()}`)
  return JSON.parse(out) as T
}

/** The scope, the three clients and the user, through the CLI. */
export async function registerClients(target: string, env: Record<string, string>, audience: string): Promise<LatchkeyClients> {
  await cli(target, env, ['migrate'])
  await cli(target, env, ['scope', 'add', SCOPE, '--description', 'Read the benchmark API'])
  const add = async (args: string[]): Promise<Credentials> => {
    const added = await cli<{ client_id: string; client_secret: string }>(target, env, ['client', 'add', ...args])
    return { clientId: added.client_id, clientSecret: added.client_secret }
  }
  const service = await add(['--name', 'Bench Service', '--grant', 'client_credentials', '--scope', SCOPE])
  const web = await add([
    '--name', 'Bench Web App', '--redirect-uri', REDIRECT_URI,
    '--grant', 'authorization_code', '--grant', 'refresh_token', '--scope', `openid profile offline_access ${SCOPE}`,
  ])
  const api = await add(['--name', 'Bench API', '--audience', audience])
  await cli(target, env, ['user', 'add', '--username', USERNAME, '--password-stdin', '--name', 'Bench User'], `${PASSWORD}\n`)
  return { service, web, api }
}

export function basic({ clientId, clientSecret }: Credentials): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`
}

export interface PreparedCode {
  code: string
  verifier: string
}

export interface TokenAnswer {
  access_token: string
  refresh_token?: string
}

/**
 * A browser signed in once through the real pages (login form with its CSRF token, consent);
 * after that, consent is remembered and each GET /authorize answers with a code at once.
 */
export class SignedInUser {
  private readonly browser: FetchBrowser

  constructor(
    private readonly issuer: string,
    private readonly web: Credentials,
  ) {
    this.browser = new FetchBrowser(issuer)
  }

  private authorizeUrl(scope: string): { url: string; verifier: string } {
    const verifier = randomBytes(32).toString('base64url')
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: this.web.clientId,
      redirect_uri: REDIRECT_URI,
      scope,
      state: randomBytes(8).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })
    return { url: `/authorize?${query.toString()}`, verifier }
  }

  /** The first authorization: the login page, then the consent page, then the code. */
  async signIn(scope: string): Promise<PreparedCode> {
    const { url, verifier } = this.authorizeUrl(scope)
    let res = await this.browser.follow(await this.browser.get(url))
    let html = ''
    for (let step = 0; step < 3 && res.status !== 303 && res.status !== 302; step++) {
      html = await res.text()
      // The consent page has a form posting to /authorize/login too ("use another account").
      if (html.includes('action="/authorize/login"') && html.includes('name="password"')) {
        res = await this.browser.post('/authorize/login', { ...hiddenInputs(html, '/authorize/login'), username: USERNAME, password: PASSWORD })
      } else if (html.includes('action="/authorize/consent"')) {
        res = await this.browser.post('/authorize/consent', { ...hiddenInputs(html, '/authorize/consent'), decision: 'allow' })
      } else {
        break
      }
      res = await this.browser.follow(res)
    }
    if (!isRedirect(res)) throw new Error(`signing in ended on a ${res.status} page: ${pageText(res.bodyUsed ? html : await res.text())}`)
    return { code: codeOf(res), verifier }
  }

  /** A code from GET /authorize alone (signed in, consent remembered). */
  async code(scope: string): Promise<PreparedCode> {
    const { url, verifier } = this.authorizeUrl(scope)
    return { code: codeOf(await this.browser.get(url)), verifier }
  }

  /** `count` codes, fetched `concurrency` at a time. */
  async codes(scope: string, count: number, concurrency = 8): Promise<PreparedCode[]> {
    const codes: PreparedCode[] = []
    const worker = async () => {
      while (codes.length < count) codes.push(await this.code(scope))
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    return codes.slice(0, count)
  }

  async exchange({ code, verifier }: PreparedCode): Promise<TokenAnswer> {
    const res = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(this.web), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI }).toString(),
    })
    const body = (await res.json()) as TokenAnswer
    if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`code exchange: ${res.status} ${JSON.stringify(body)}`)
    return body
  }
}

/** What a page says, without its markup, for an error message. */
function pageText(html: string): string {
  const main = /<main\b[\s\S]*?<\/main>/.exec(html)?.[0] ?? html
  return main.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)
}

function codeOf(res: Response): string {
  const location = isRedirect(res) ? res.headers.get('location') : null
  const code = location === null ? null : new URL(location).searchParams.get('code')
  if (code === null) throw new Error(`expected a redirect with a code, got ${res.status} ${location ?? ''}`)
  return code
}

/** An access token for a client of its own, by client_credentials. */
export async function clientToken(issuer: string, client: Credentials): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&scope=${encodeURIComponent(SCOPE)}`,
  })
  const body = (await res.json()) as Partial<TokenAnswer>
  if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`client_credentials: ${res.status} ${JSON.stringify(body)}`)
  return body.access_token
}
