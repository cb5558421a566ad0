import { pathToFileURL } from 'node:url'
import fastify from 'fastify'
import { me, readResourceServerEnv } from './rs-env.js'

// An API protected by latchkey's own resource-server module (the build under test, named by
// RS_MODULE): keys from the issuer's metadata and JWKS, verified locally, no introspection.

type ResourceServerModule = typeof import('../../src/resource-server/index.js')

const env = readResourceServerEnv(process.env)
const modulePath = process.env.RS_MODULE
if (!modulePath) throw new Error('RS_MODULE must name dist/resource-server/index.js')
const { createResourceServer } = (await import(pathToFileURL(modulePath).href)) as ResourceServerModule

// RS_ALGORITHMS: what latchkey signs access tokens with, when the run sets SIGNING_ALG (the
// module's default is RS256 only).
const algorithms = process.env.RS_ALGORITHMS?.split(',')
const rs = createResourceServer({ issuer: env.issuer, audience: env.audience, ...(algorithms ? { algorithms } : {}) })
await rs.ready()
const app = fastify()
await app.register(rs.plugin)
app.get('/healthz', async () => ({ status: 'ok' }))
app.get('/api/me', { onRequest: rs.requireScope() }, async (request) => me(request.auth ?? {}))
await app.listen({ port: env.port, host: '127.0.0.1' })
