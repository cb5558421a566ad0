import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'
import { codeRequest, createClient } from '../helpers/oauth.js'

eachDialect(t, (t) => {
  t.test('a loopback redirect URI with a port no URL can carry is an error page, never a 500 or a redirect', async (t) => {
    const ctx = await buildTestApp(t)
    const client = await createClient(ctx, { isPublic: true, redirectUris: ['http://127.0.0.1/cb'] })
    for (const port of ['65536', '99999']) {
      for (const extra of [{}, { response_type: 'token' }]) {
        const { url } = codeRequest({ client_id: client.client_id, redirectUri: `http://127.0.0.1:${port}/cb` }, extra)
        const res = await ctx.app.inject(url)
        t.equal(res.statusCode, 400, `port ${port} ${JSON.stringify(extra)}`)
        t.equal(res.headers.location, undefined)
        t.match(res.headers['content-type'], /text\/html/)
      }
    }
    const ok = await ctx.app.inject(codeRequest({ client_id: client.client_id, redirectUri: 'http://127.0.0.1:65535/cb' }).url)
    t.equal(ok.statusCode, 200, 'the highest real port still matches')
  })
})
