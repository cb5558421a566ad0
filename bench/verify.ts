import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { createResourceServer } from '../src/resource-server/index.js'

export interface BenchResult {
  name: string
  opsPerSec: number
}

/** Awaits `op` in a loop for `durationMs` after a warm-up; sequential, so it is latency-bound. */
async function measure(name: string, op: () => Promise<unknown>, durationMs: number): Promise<BenchResult> {
  const warmUpEnd = performance.now() + durationMs / 4
  while (performance.now() < warmUpEnd) await op()
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < durationMs) {
    for (let i = 0; i < 100; i++) await op()
    ops += 100
    elapsed = performance.now() - start
  }
  return { name, opsPerSec: Math.round((ops * 1000) / elapsed) }
}

/**
 * RS256 access-token verification: jose's jwtVerify with a local key set and the same checks,
 * against the resource server's verify() (JWKS fetched once from an in-process issuer).
 */
export async function benchVerify(durationMs = 2000): Promise<BenchResult[]> {
  const kid = 'bench'
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] }

  const server = createServer((request, response) => {
    const body =
      request.url === '/.well-known/oauth-authorization-server'
        ? { issuer, jwks_uri: `${issuer}/.well-known/jwks.json` }
        : jwks
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const audience = 'http://localhost:4000'

  try {
    const token = await new SignJWT({ client_id: 'bench', scope: 'source:r' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('user-1')
      .setJti('bench-jti')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey)

    const localKeys = createLocalJWKSet(jwks)
    const options = {
      algorithms: ['RS256'],
      issuer,
      audience,
      typ: 'at+jwt',
      clockTolerance: 5,
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
    }
    const rs = createResourceServer({ issuer, audience })
    await rs.ready()

    const plain = await measure('jose.jwtVerify (local JWKS)', () => jwtVerify(token, localKeys, options), durationMs)
    const module = await measure('resource-server verify()', () => rs.verify(token), durationMs)
    return [plain, module]
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now()
  const [plain, module] = await benchVerify()
  for (const { name, opsPerSec } of [plain!, module!]) {
    console.log(`${name.padEnd(32)} ${opsPerSec.toLocaleString('en')} ops/s`)
  }
  console.log(`ratio verify()/jwtVerify        ${(module!.opsPerSec / plain!.opsPerSec).toFixed(2)}`)
  const heap = process.memoryUsage()
  console.log(`heap used ${(heap.heapUsed / 1048576).toFixed(1)} MiB, rss ${(heap.rss / 1048576).toFixed(1)} MiB`)
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
