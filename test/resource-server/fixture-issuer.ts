import { randomUUID, type KeyObject } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import fastify from 'fastify'
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'

/** A key pair (RS256 unless the JWK says otherwise) with the public JWK the issuer publishes. */
export interface SigningKey {
  kid: string
  privateKey: CryptoKey | KeyObject
  publicJwk: JWK
}

/**
 * What the token checks need from an issuer: its identifier and a way to mint access tokens.
 * `sign` makes a valid RFC 9068 token; a claim or header set to undefined is left out.
 * The fixture below provides it; a real latchkey server can too.
 */
export interface TokenSource {
  issuer: string
  audience: string
  sign(claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
}

export interface FixtureIssuer extends TokenSource {
  /** How many times each endpoint was requested. */
  readonly counts: { metadata: number; jwks: number; introspect: number }
  /** The key `sign` uses. */
  current: SigningKey
  /** Generates and publishes a key; `makeCurrent` also signs with it from now on. */
  addKey(options?: { makeCurrent?: boolean; kid?: string }): Promise<SigningKey>
  /** Stops publishing a key. */
  removeKey(kid: string): void
  signWith(key: SigningKey, claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
  /** jtis that /introspect reports as inactive. */
  revoked: Set<string>
  /** 'error': every endpoint answers 500. */
  mode: 'up' | 'error'
  introspectionMode: 'up' | 'error'
  /** Merged into the metadata document (e.g. a foreign `issuer`); an undefined value drops a field. */
  metadataPatch: Record<string, unknown>
  /** Served instead of the metadata document when set. */
  rawMetadata: unknown
  /** Every answer waits this long (a hung issuer). */
  delayMs: number
  /** More JWKs published beside the signing keys. */
  extraJwks: unknown[]
  /** The JWKS response's Cache-Control header, when set. */
  jwksCacheControl: string | undefined
  /** The introspection client credentials the fixture accepts. */
  client: { id: string; secret: string }
  /** Stops listening: later requests are refused. Safe to call twice. */
  close(): Promise<void>
}

type KeyPair = { privateKey: CryptoKey; publicJwk: JWK }

async function newKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { privateKey, publicJwk: await exportJWK(publicKey) }
}

function signingKey(pair: KeyPair, kid: string): SigningKey {
  return { kid, privateKey: pair.privateKey, publicJwk: { ...pair.publicJwk, kid, alg: 'RS256', use: 'sig' } }
}

/** A new key pair, never one an issuer holds (for unpublished, rogue or extra keys). */
export async function createSigningKey(kid: string = randomUUID()): Promise<SigningKey> {
  return signingKey(await newKeyPair(), kid)
}

// Generating a 2048-bit RSA key costs more than most tests: an issuer's nth key reuses this
// process's nth key pair, under a fresh kid. Issuers never see each other's keys, so sharing
// material between them changes nothing a test observes; within one issuer every key differs.
const issuerKeyPairs: Array<Promise<KeyPair>> = []

async function issuerKey(index: number, kid: string = randomUUID()): Promise<SigningKey> {
  issuerKeyPairs[index] ??= newKeyPair()
  return signingKey(await issuerKeyPairs[index], kid)
}

function withOverrides(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const merged = { ...base, ...overrides }
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
  return merged
}

/** A valid access token's claims for `issuer` and `audience`, with overrides. */
export function accessTokenClaims(
  issuer: string,
  audience: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  const base = {
    iss: issuer,
    sub: 'user-1',
    aud: audience,
    client_id: 'client-1',
    scope: 'source:r',
    jti: randomUUID(),
    iat: now,
    exp: now + 300,
  }
  return withOverrides(base, overrides)
}

/** Signs any claims and header with a key, the way an issuer would. */
export async function signToken(
  key: SigningKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const protectedHeader = withOverrides({ alg: 'RS256', typ: 'at+jwt', kid: key.kid }, header)
  return new SignJWT(claims).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey)
}

// RFC 6749 §2.3.1: both parts of the Basic credentials are form-urlencoded.
function decodeBasic(header: string | undefined): [string, string] | undefined {
  if (header === undefined || !header.startsWith('Basic ')) return undefined
  const decoded = Buffer.from(header.slice(6), 'base64').toString()
  const colon = decoded.indexOf(':')
  const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '))
  return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))]
}

/** A tiny issuer on 127.0.0.1 with metadata, a JWKS and /introspect. Close it in t.teardown. */
export async function startFixtureIssuer(options: { audience?: string } = {}): Promise<FixtureIssuer> {
  const app = fastify({ forceCloseConnections: true })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  let made = 0
  let keys = [await issuerKey(made++)]
  let closed = false

  const fixture: FixtureIssuer = {
    issuer: '',
    audience: options.audience ?? 'https://api.example.test',
    counts: { metadata: 0, jwks: 0, introspect: 0 },
    current: keys[0]!,
    revoked: new Set(),
    mode: 'up',
    introspectionMode: 'up',
    metadataPatch: {},
    rawMetadata: undefined,
    delayMs: 0,
    extraJwks: [],
    jwksCacheControl: undefined,
    // Characters that RFC 6749 §2.3.1's form-encoding changes, so a client skipping it fails.
    client: { id: 'api client', secret: 's3cret:+/%ü' },
    async addKey({ makeCurrent = false, kid } = {}) {
      const key = await issuerKey(made++, kid)
      keys = [...keys, key]
      if (makeCurrent) fixture.current = key
      return key
    },
    removeKey(kid) {
      keys = keys.filter((key) => key.kid !== kid)
    },
    sign(claims, header) {
      return fixture.signWith(fixture.current, claims, header)
    },
    signWith(key, claims, header) {
      return signToken(key, accessTokenClaims(fixture.issuer, fixture.audience, claims), header)
    },
    async close() {
      if (closed) return
      closed = true
      await app.close()
    },
  }

  const counted: Record<string, keyof FixtureIssuer['counts']> = {
    '/.well-known/oauth-authorization-server': 'metadata',
    '/.well-known/jwks.json': 'jwks',
    '/introspect': 'introspect',
  }
  app.addHook('onRequest', async (request, reply) => {
    // Every request counts, including those that fail below.
    const counter = counted[request.url]
    if (counter !== undefined) fixture.counts[counter]++
    if (fixture.delayMs > 0) await sleep(fixture.delayMs)
    if (fixture.mode === 'error') return reply.code(500).send({ error: 'server_error' })
    return undefined
  })
  app.get('/.well-known/oauth-authorization-server', async () => {
    if (fixture.rawMetadata !== undefined) return JSON.stringify(fixture.rawMetadata)
    const document = {
      issuer: fixture.issuer,
      jwks_uri: `${fixture.issuer}/.well-known/jwks.json`,
      introspection_endpoint: `${fixture.issuer}/introspect`,
    }
    return withOverrides(document, fixture.metadataPatch)
  })
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    if (fixture.jwksCacheControl !== undefined) reply.header('cache-control', fixture.jwksCacheControl)
    return { keys: [...keys.map((key) => key.publicJwk), ...fixture.extraJwks] }
  })
  app.post('/introspect', async (request, reply) => {
    if (fixture.introspectionMode === 'error') return reply.code(500).send({ error: 'server_error' })
    const credentials = decodeBasic(request.headers.authorization)
    if (credentials?.[0] !== fixture.client.id || credentials[1] !== fixture.client.secret) {
      return reply.code(401).send({ error: 'invalid_client' })
    }
    const claims = decodeJwt((request.body as { token: string }).token)
    const active = typeof claims.jti === 'string' && !fixture.revoked.has(claims.jti)
    return active ? { active, ...claims } : { active }
  })

  await app.listen({ port: 0, host: '127.0.0.1' })
  fixture.issuer = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return fixture
}

/** A URL on which nothing listens (a port that was free a moment ago). */
export async function refusedUrl(): Promise<string> {
  const app = fastify()
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  await app.close()
  return `http://127.0.0.1:${port}`
}
