import { createHash, createPrivateKey, randomUUID, sign, timingSafeEqual } from 'node:crypto'
import formbody from '@fastify/formbody'
import fastify from 'fastify'
import { readPeerEnv } from './peer-env.js'

// The ceiling: the least a client_credentials token endpoint does. Parses the form and HTTP
// Basic, compares the secret's SHA-256 in constant time, signs a JWT access token shaped like
// latchkey's with node:crypto, answers JSON. No database, no logs, no limits.

const env = readPeerEnv(process.env)
const privateKey = createPrivateKey({ key: env.privateJwk, format: 'jwk' })
const secretHash = createHash('sha256').update(env.clientSecret).digest()
const alg = env.privateJwk.alg
const TTL_SECONDS = 3600

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

function signJwt(clientId: string, scope: string): string {
  const iat = Math.floor(Date.now() / 1000)
  const header = base64url({ alg, kid: env.privateJwk.kid, typ: 'at+jwt' })
  const claims = base64url({ client_id: clientId, scope, iss: env.issuer, sub: clientId, aud: env.audience, iat, exp: iat + TTL_SECONDS, jti: randomUUID() })
  const input = Buffer.from(`${header}.${claims}`)
  const signature =
    alg === 'EdDSA' ? sign(null, input, privateKey) : sign('sha256', input, alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey)
  return `${header}.${claims}.${signature.toString('base64url')}`
}

/** The client_id of a valid `Authorization: Basic`, or undefined. */
function authenticate(header: string | undefined): string | undefined {
  const encoded = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '')?.[1]
  if (encoded === undefined) return undefined
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  let id: string
  let secret: string
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '))
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '))
  } catch {
    return undefined
  }
  const presented = createHash('sha256').update(secret).digest()
  return id === env.clientId && timingSafeEqual(presented, secretHash) ? id : undefined
}

const app = fastify()
await app.register(formbody)
app.get('/healthz', async () => ({ status: 'ok' }))
app.post('/token', async (request, reply) => {
  reply.header('cache-control', 'no-store')
  const clientId = authenticate(request.headers.authorization)
  if (clientId === undefined) return reply.code(401).send({ error: 'invalid_client' })
  const form = (request.body ?? {}) as Record<string, string | undefined>
  if (form.grant_type !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' })
  const scope = form.scope ?? ''
  return { access_token: signJwt(clientId, scope), token_type: 'Bearer', expires_in: TTL_SECONDS, scope }
})
await app.listen({ port: env.port, host: '127.0.0.1' })
