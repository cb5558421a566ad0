import t from 'tap'
import { buildTestApp, logLines } from '../helpers/app.js'
import { eachDialect } from '../helpers/db.js'

eachDialect(t, (t) => {
  t.test('request lines never carry the query string, whatever logger the caller configures', async (t) => {
    const lines: string[] = []
    const stream = logLines(lines)
    const ctx = await buildTestApp(t, { logger: { level: 'info', stream, serializers: { req: (req: { url: string }) => ({ url: req.url }) } } })
    await ctx.app.inject('/userinfo?access_token=SECRET-TOKEN-VALUE')
    await ctx.app.inject('/logout?id_token_hint=SECRET-HINT-VALUE')
    await ctx.app.inject('/authorize?client_id=x&state=SECRET-STATE')
    const log = lines.join('\n')
    t.match(log, /"path":"\/userinfo"/, 'the request is logged, by path')
    for (const secret of ['SECRET-TOKEN-VALUE', 'SECRET-HINT-VALUE', 'SECRET-STATE']) t.notOk(log.includes(secret), secret)
  })
})
