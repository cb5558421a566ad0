import { randomBytes, randomUUID } from 'node:crypto'
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { PasswordHasher } from '../accounts/passwords.js'
import type { AuditEvent, AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { isLoopbackHost } from '../config.js'
import { s256 } from '../oauth/pkce.js'
import { isResourceUri } from '../oauth/resource-uri.js'
import { USER_SCOPES } from '../oauth/scope.js'
import { randomToken, sha256Hex } from '../oauth/secrets.js'
import type { Client } from '../storage/clients.js'
import type { InTransaction } from '../storage/repositories.js'
import { AdminError } from './admin-error.js'
import { addClient } from './clients.js'

/**
 * `latchkey demo`: something to sign in with on a fresh server. What it creates is found again
 * by fixed names (the user `demo`, the clients named below), so a rerun reuses it and only
 * issues a new password and a new secret.
 */
export const DEMO_USERNAME = 'demo'
export const DEMO_SCOPE = { name: 'source:w', description: 'Create sources in the demo API' }
export const DEMO_PUBLIC_CLIENT_NAME = 'latchkey demo (public client, PKCE)'
/** The example app's client is named after the app's origin: another origin, another client. */
export const demoAppClientName = (appOrigin: string): string => `latchkey example app (${appOrigin})`
/**
 * The public client is a native app's: a loopback redirect URI, which matches on any port
 * (RFC 8252 §7.3). Nothing listens there; the code shows in the browser's address bar.
 */
export const DEMO_PUBLIC_REDIRECT_URI = 'http://127.0.0.1:8400/callback'
const DEMO_SCOPES = [...USER_SCOPES, DEMO_SCOPE.name]
const PUBLIC_CLIENT_SCOPE = 'openid profile email source:w'

export interface DemoInput {
  issuer: string
  /** The demo resource server's audience (DEFAULT_AUDIENCE). */
  audience: string
  /** Where the example app runs: its redirect URI is `/callback` there, post-logout `/`. */
  appOrigin: string
}

export interface DemoClient {
  client_id: string
  redirect_uri: string
}

export interface DemoSetup {
  user: { id: string; username: string; password: string }
  clients: {
    /** A public client with PKCE, for the ready authorize URL. */
    public: DemoClient & { scope: string }
    /** The example app's confidential client. */
    example_app: DemoClient & { client_secret: string; post_logout_redirect_uri: string; scope: string }
  }
  /** A ready /authorize URL for the public client (PKCE S256 with `code_verifier`). */
  authorize_url: string
  /** The PKCE verifier the authorize URL's challenge was made from: the token request sends it. */
  code_verifier: string
  /** Whether anything was created (false on a rerun that only reset the password and secret). */
  created: boolean
}

/** What the example app reads (examples/.demo-client.json). */
export interface DemoClientFile {
  issuer: string
  client_id: string
  client_secret: string
  redirect_uri: string
  post_logout_redirect_uri: string
  scope: string
  resource: string
}

function appOrigin(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new AdminError(`--app-url "${raw}" is not a URL`)
  }
  if (url.origin !== raw.replace(/\/$/, '') || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new AdminError(`--app-url "${raw}" must be an origin such as http://localhost:5000 (no path)`)
  }
  return url.origin
}

const DEMO_EMAIL = 'demo@example.com'
const DEMO_NAME = 'Demo User'

function findDemoClient(clients: Client[], isPublic: boolean, redirectUri: string): Client | undefined {
  return clients.find((c) => c.isPublic === isPublic && c.redirectUris.includes(redirectUri))
}

/**
 * Creates the demo user, the `source:w` scope, a public PKCE client and the example app's
 * confidential client, or finds them; sets a new random password and a new client secret
 * either way. Every write is in one transaction: a failure leaves nothing half set up.
 */
export async function setUpDemo(
  deps: { transaction: InTransaction; passwords: PasswordHasher; clock: Clock; audit: AuditLog },
  input: DemoInput,
): Promise<DemoSetup> {
  const origin = appOrigin(input.appOrigin)
  // A known user with a printed password belongs on a machine of one's own, not on a server.
  if (!isLoopbackHost(new URL(input.issuer).hostname)) {
    throw new AdminError(`latchkey demo is for a local trial: ISSUER ${input.issuer} is not on this machine`)
  }
  if (!isResourceUri(input.audience)) throw new AdminError(`the audience "${input.audience}" is not an absolute URI`)
  const appRedirectUri = `${origin}/callback`
  const appPostLogoutUri = `${origin}/`
  const password = randomToken(12)
  // Hashed before the transaction: argon2 takes a while and the transaction holds the write lock.
  const passwordHash = await deps.passwords.hash(password)
  // Recorded once the transaction commits: a rolled-back change never happened.
  const events: AuditEvent[] = []

  const result = await deps.transaction(async (repos) => {
    let created = false
    const [scope] = await repos.scopes.findByNames([DEMO_SCOPE.name])
    if (!scope) {
      await repos.scopes.upsert(DEMO_SCOPE)
      created = true
    }

    let user = await repos.users.findByUsername(DEMO_USERNAME)
    // Only the demo's own user is reset: a real account that happens to be called `demo` is not.
    if (user && (user.email !== DEMO_EMAIL || user.name !== DEMO_NAME)) {
      throw new AdminError(`a user "${DEMO_USERNAME}" exists that latchkey demo did not create; the demo leaves it alone`)
    }
    if (user) {
      await repos.users.setPasswordHash(user.id, passwordHash, deps.clock.now())
      events.push({ event: 'user_password_set', userId: user.id, actor: 'cli' })
    } else {
      user = { id: randomUUID(), username: DEMO_USERNAME, passwordHash, email: DEMO_EMAIL, name: DEMO_NAME, createdAt: deps.clock.now(), disabledAt: null }
      await repos.users.create(user)
      events.push({ event: 'user_created', userId: user.id })
      created = true
    }

    const clientDeps = { clients: repos.clients, scopes: repos.scopes, clock: deps.clock, audit: { record: (e: AuditEvent) => void events.push(e) } }
    const publicClient = findDemoClient(await repos.clients.findByName(DEMO_PUBLIC_CLIENT_NAME), true, DEMO_PUBLIC_REDIRECT_URI)
    const publicClientId = publicClient?.id ?? (await addClient(clientDeps, {
      name: DEMO_PUBLIC_CLIENT_NAME,
      isPublic: true,
      redirectUris: [DEMO_PUBLIC_REDIRECT_URI],
      grants: ['authorization_code', 'refresh_token'],
      scope: DEMO_SCOPES.join(' '),
    })).client_id
    if (!publicClient) created = true

    const appName = demoAppClientName(origin)
    const appClient = findDemoClient(await repos.clients.findByName(appName), false, appRedirectUri)
    let appClientId: string
    let secret: string
    if (appClient) {
      appClientId = appClient.id
      secret = randomToken(32)
      await repos.clients.setSecretHash(appClientId, sha256Hex(secret))
      events.push({ event: 'client_secret_rotated', clientId: appClientId, graceSeconds: 0, actor: 'cli' })
    } else {
      const added = await addClient(clientDeps, {
        name: appName,
        redirectUris: [appRedirectUri],
        postLogoutRedirectUris: [appPostLogoutUri],
        grants: ['authorization_code', 'refresh_token'],
        scope: DEMO_SCOPES.join(' '),
        resources: [input.audience],
      })
      appClientId = added.client_id
      secret = added.client_secret as string
      created = true
    }
    return { userId: user.id, publicClientId, appClientId, secret, created }
  })
  for (const event of events) deps.audit.record(event)

  const verifier = randomToken(32)
  const authorize = new URL('/authorize', input.issuer)
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: result.publicClientId,
    redirect_uri: DEMO_PUBLIC_REDIRECT_URI,
    scope: PUBLIC_CLIENT_SCOPE,
    state: randomToken(16),
    code_challenge: s256(verifier),
    code_challenge_method: 'S256',
  }).toString()

  return {
    user: { id: result.userId, username: DEMO_USERNAME, password },
    clients: {
      public: { client_id: result.publicClientId, redirect_uri: DEMO_PUBLIC_REDIRECT_URI, scope: DEMO_SCOPES.join(' ') },
      example_app: {
        client_id: result.appClientId,
        client_secret: result.secret,
        redirect_uri: appRedirectUri,
        post_logout_redirect_uri: appPostLogoutUri,
        scope: DEMO_SCOPES.join(' '),
      },
    },
    authorize_url: authorize.toString(),
    code_verifier: verifier,
    created: result.created,
  }
}

export function demoClientFile(issuer: string, audience: string, demo: DemoSetup): DemoClientFile {
  const app = demo.clients.example_app
  return {
    issuer,
    client_id: app.client_id,
    client_secret: app.client_secret,
    redirect_uri: app.redirect_uri,
    post_logout_redirect_uri: app.post_logout_redirect_uri,
    scope: app.scope,
    resource: audience,
  }
}

/**
 * Writes the example app's client file: 0600 (it holds a client secret), replaced atomically
 * so the app never reads half a file.
 */
export function writeDemoClientFile(path: string, contents: DemoClientFile): void {
  mkdirSync(dirname(path), { recursive: true })
  // A random name, created exclusively: a file or symlink planted there is never written through.
  const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`
  writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  // The mode given to writeFileSync is masked by the umask and ignored for an existing file.
  chmodSync(temporary, 0o600)
  renameSync(temporary, path)
}
