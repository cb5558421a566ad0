import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { text } from 'node:stream/consumers'
import { SignJWT, jwtVerify } from 'jose'

// The limits of the work itself: signatures and verifications per second on one CPU (the
// harness pins this process as it pins the servers). Reads {"seconds": n} on stdin, prints
// {name: opsPerSecond} as JSON.

export type CryptoLimits = Record<string, number>

const CLAIMS = { iss: 'http://127.0.0.1:3000', sub: 'bench-service', aud: 'http://localhost:4000', client_id: 'bench-service', scope: 'bench:read', jti: 'b6f3c9a2-3d1e-4c55-9a0b-4d1f0e7c2a11' }

function signingInput(alg: string): Buffer {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  return Buffer.from(`${part({ alg, kid: 'bench', typ: 'at+jwt' })}.${part({ ...CLAIMS, iat: now, exp: now + 3600 })}`)
}

function perSecondSync(seconds: number, op: () => unknown): number {
  const end = performance.now() + seconds * 1000
  let ops = 0
  const start = performance.now()
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) op()
    ops += 20
  }
  return Math.round((ops * 1000) / (performance.now() - start))
}

/** Async work with 10 operations in flight, as a server under load has. */
async function perSecondAsync(seconds: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000
  let ops = 0
  const start = performance.now()
  while (performance.now() < end) {
    await Promise.all(Array.from({ length: 10 }, op))
    ops += 10
  }
  return Math.round((ops * 1000) / (performance.now() - start))
}

function nodeSigner(alg: 'RS256' | 'ES256' | 'EdDSA'): () => Buffer {
  const data = signingInput(alg)
  let key: KeyObject
  if (alg === 'RS256') key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  else if (alg === 'ES256') key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  else key = generateKeyPairSync('ed25519').privateKey
  if (alg === 'EdDSA') return () => sign(null, data, key)
  // JWS wants ECDSA signatures as r||s (IEEE P1363), not DER.
  return () => sign('sha256', data, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key)
}

async function measure(seconds: number): Promise<CryptoLimits> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const now = Math.floor(Date.now() / 1000)
  const joseSign = () =>
    new SignJWT({ client_id: CLAIMS.client_id, scope: CLAIMS.scope })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'at+jwt' })
      .setIssuer(CLAIMS.iss)
      .setSubject(CLAIMS.sub)
      .setAudience(CLAIMS.aud)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .setJti(CLAIMS.jti)
      .sign(privateKey)
  const token = await joseSign()
  const verifyOptions = { issuer: CLAIMS.iss, audience: CLAIMS.aud, typ: 'at+jwt', algorithms: ['RS256'] }
  // Warm up each path once so the first call's set-up is not counted.
  await jwtVerify(token, publicKey, verifyOptions)
  return {
    'RS256 sign, node:crypto': perSecondSync(seconds, nodeSigner('RS256')),
    'RS256 SignJWT, jose': await perSecondAsync(seconds, joseSign),
    'ES256 sign, node:crypto': perSecondSync(seconds, nodeSigner('ES256')),
    'EdDSA sign, node:crypto': perSecondSync(seconds, nodeSigner('EdDSA')),
    'RS256 jwtVerify, jose': await perSecondAsync(seconds, () => jwtVerify(token, publicKey, verifyOptions)),
  }
}

const { seconds } = JSON.parse(await text(process.stdin)) as { seconds: number }
process.stdout.write(JSON.stringify(await measure(seconds)))
