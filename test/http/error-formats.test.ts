import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { createErrorHandler } from '../../src/error-handler.js'
import { OAuthError } from '../../src/errors.js'
import { loadConfig } from '../../src/config.js'
import { createPages } from '../../src/pages/pages.js'
import { buildTestApp, logLines } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'

/** A bare app with the one error handler and a `bearer` route that throws what it is given. */
async function bearerApp(t: Test, thrown: () => unknown): Promise<FastifyInstance> {
  const app = Fastify()
  app.setErrorHandler(createErrorHandler({ issuer: 'http://localhost:3000', pages: createPages({ brand: loadConfig({}).brand }) }))
  app.get('/protected', { config: { errorFormat: 'bearer' } }, async () => {
    throw thrown()
  })
  t.teardown(() => app.close())
  return app
}

eachDialect(t, (t) => {
  t.test('bearer format: the JSON error and an RFC 6750 challenge', async (t) => {
    const cases: Array<[string, () => unknown, number, Record<string, string>, string]> = [
      ['no credentials', () => OAuthError.noCredentials('bearer token required'), 401, { error_description: 'bearer token required' }, 'Bearer realm="latchkey"'],
      ['invalid_request', () => new OAuthError('invalid_request', 'bearer token is missing'), 400, { error: 'invalid_request', error_description: 'bearer token is missing' }, 'Bearer realm="latchkey", error="invalid_request", error_description="bearer token is missing"'],
      ['invalid_token', () => new OAuthError('invalid_token', 'expired'), 401, { error: 'invalid_token', error_description: 'expired' }, 'Bearer realm="latchkey", error="invalid_token", error_description="expired"'],
      ['insufficient_scope', () => OAuthError.insufficientScope('openid'), 403, { error: 'insufficient_scope', error_description: 'token lacks scope: openid' }, 'Bearer realm="latchkey", error="insufficient_scope", error_description="token lacks scope: openid", scope="openid"'],
    ]
    for (const [name, thrown, status, body, challenge] of cases) {
      const res = await (await bearerApp(t, thrown)).inject('/protected')
      t.equal(res.statusCode, status, name)
      t.same(res.json(), body, `${name}: body`)
      t.equal(res.headers['www-authenticate'], challenge, `${name}: challenge`)
    }
  })

  t.test('bearer format: a bug or a framework error is plain JSON, without a challenge', async (t) => {
    const bug = await (await bearerApp(t, () => new Error('boom'))).inject('/protected')
    t.equal(bug.statusCode, 500)
    t.same(bug.json(), { error: 'server_error', error_description: 'internal server error' })
    t.notOk(bug.headers['www-authenticate'])
    const framework = await (await bearerApp(t, () => Object.assign(new Error('bad'), { statusCode: 400 }))).inject('/protected')
    t.equal(framework.statusCode, 400)
    t.same(framework.json(), { error: 'invalid_request', error_description: 'malformed request' })
    t.notOk(framework.headers['www-authenticate'], 'a framework 400 is not a bearer refusal')
    const limited = await (await bearerApp(t, () => new OAuthError('invalid_request', 'too many requests', { status: 429 }))).inject('/protected')
    t.equal(limited.statusCode, 429)
    t.notOk(limited.headers['www-authenticate'], 'a 429 is not a bearer refusal')
  })

  t.test('json format: no error member only when there is no code; Basic challenge for invalid_client', async (t) => {
    const app = Fastify()
    app.setErrorHandler(createErrorHandler({ issuer: 'http://localhost:3000', pages: createPages({ brand: loadConfig({}).brand }) }))
    app.get('/client', { config: { errorFormat: 'json' } }, async () => {
      throw OAuthError.invalidClient('client authentication failed')
    })
    t.teardown(() => app.close())
    const res = await app.inject('/client')
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], 'Basic realm="latchkey"')
    t.same(res.json(), { error: 'invalid_client', error_description: 'client authentication failed' })
  })

  t.test('/userinfo: a body too large is plain JSON 413, no challenge; refusals are logged at debug without the token', async (t) => {
    const lines: string[] = []
    const ctx = await buildTestApp(t, { logger: { level: 'debug', stream: logLines(lines) } })
    const big = await ctx.app.inject({ method: 'POST', url: '/userinfo', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `access_token=x&pad=${'x'.repeat(70 * 1024)}` })
    t.equal(big.statusCode, 413)
    t.same(big.json(), { error: 'invalid_request', error_description: 'request body is too large' })
    t.notOk(big.headers['www-authenticate'])
    const refused = await ctx.app.inject({ method: 'GET', url: '/userinfo', headers: { authorization: 'Bearer secret-token-value' } })
    t.equal(refused.statusCode, 401)
    const written = lines.join('')
    t.match(written, /\/userinfo bearer authentication failed: access token is invalid or expired/)
    t.notMatch(written, /secret-token-value/)
  })
})
