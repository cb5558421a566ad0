import { readFileSync } from 'node:fs'
import fastify from 'fastify'
import { importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose'
import { me, readResourceServerEnv } from './rs-env.js'

// The same API with plain jose: the issuer's public key imported once from a file, jwtVerify
// with the checks RFC 9068 asks for, and nothing else.

const env = readResourceServerEnv(process.env)
const jwkFile = process.env.PUBLIC_JWK_FILE
if (!jwkFile) throw new Error('PUBLIC_JWK_FILE must be set')
const jwk = JSON.parse(readFileSync(jwkFile, 'utf8')) as JWK & { alg: string }
const key = await importJWK(jwk, jwk.alg)
const options = { issuer: env.issuer, audience: env.audience, typ: 'at+jwt', algorithms: [jwk.alg], clockTolerance: 5 }

const app = fastify()
app.get('/healthz', async () => ({ status: 'ok' }))
app.get('/api/me', async (request, reply) => {
  const token = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')?.[1]
  if (token === undefined) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'invalid_request' })
  let claims: JWTPayload
  try {
    claims = (await jwtVerify(token, key, options)).payload
  } catch {
    return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'invalid_token' })
  }
  return me(claims)
})
await app.listen({ port: env.port, host: '127.0.0.1' })
