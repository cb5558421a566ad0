import { generateKeyPairSync } from 'node:crypto'
import { importJWK, SignJWT, type JWK } from 'jose'
import { privateKeyObject, signCompactJws } from '../src/keys/jws.js'
import type { SigningAlg } from '../src/keys/key-file.js'

// Signatures per second of an access-token-sized JWT: RS256 through jose's SignJWT (WebCrypto,
// what latchkey did before) against node:crypto sign, and ES256 and EdDSA through node:crypto.
// `node --import tsx bench/sign.ts`; a shared machine is noisy: compare within one run.
const payload = {
  client_id: 'lk_0123456789abcdef',
  scope: 'openid profile email offline_access',
  iss: 'https://auth.example.com',
  sub: '7f2c1f4e-2f7a-4a55-9f3a-0d9a1c2b3e4f',
  aud: 'https://api.example.com',
  iat: 1_800_000_000,
  exp: 1_800_003_600,
  jti: '0b7e5c1a-3f0e-4d8c-9a41-5b6f7c8d9e0a',
}
const DURATION_MS = Number(process.env.BENCH_MS ?? 3000)

function jwkOf(alg: SigningAlg): JWK {
  const { privateKey } =
    alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
  return privateKey.export({ format: 'jwk' }) as JWK
}

async function rate(name: string, sign: () => unknown): Promise<void> {
  for (let i = 0; i < 200; i++) await sign()
  let count = 0
  const start = performance.now()
  const cpuStart = process.cpuUsage()
  while (performance.now() - start < DURATION_MS) {
    await sign()
    count++
  }
  const perSec = Math.round((count * 1000) / (performance.now() - start))
  const cpu = process.cpuUsage(cpuStart)
  // CPU time (every thread of the process, WebCrypto's pool included) is steadier than wall time on a busy machine.
  const cpuPerSec = Math.round((count * 1e6) / (cpu.user + cpu.system))
  console.log(`${name.padEnd(26)} ${perSec.toLocaleString('en').padStart(7)} signatures/s wall, ${cpuPerSec.toLocaleString('en').padStart(7)} per CPU-second`)
}

const rsJwk = jwkOf('RS256')
const rsCrypto = await importJWK(rsJwk, 'RS256')
await rate('RS256 jose SignJWT', () => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k', typ: 'at+jwt' }).sign(rsCrypto))
for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
  const key = { alg, privateKey: privateKeyObject(alg === 'RS256' ? rsJwk : jwkOf(alg), alg) }
  await rate(`${alg} node:crypto sign`, () => signCompactJws(key, { kid: 'k', typ: 'at+jwt' }, payload))
}
