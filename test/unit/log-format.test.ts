import t from 'tap'
import pino from 'pino'
import { prettyLogStream } from '../../src/log-format.js'

function sink() {
  const lines: string[] = []
  return { lines, out: { write: (text: string) => void lines.push(...text.split('\n').filter((l) => l !== '')) } }
}

const TIME = Date.UTC(2026, 10, 30, 9, 8, 7)

t.test('a request is one line: method, path, status, time', async (t) => {
  const { lines, out } = sink()
  const stream = prettyLogStream(out)
  stream.write(`${JSON.stringify({ level: 30, time: TIME, pid: 1, hostname: 'h', reqId: 'req-1', req: { id: 'req-1', method: 'GET', path: '/authorize' }, res: { statusCode: 302 }, responseTime: 3.456, msg: 'request completed' })}\n`)
  t.same(lines, ['09:08:07 INFO  GET /authorize → 302 3.5 ms'])
  // /logout serializes its request itself, as `url` (without the query, where id_token_hint is).
  stream.write(`${JSON.stringify({ level: 30, time: TIME, reqId: 'req-4', req: { method: 'GET', url: '/logout' }, res: { statusCode: 303 }, responseTime: 1, msg: 'request completed' })}\n`)
  t.same(lines[1], '09:08:07 INFO  GET /logout → 303 1.0 ms')
  stream.write(`${JSON.stringify({ level: 30, time: TIME, reqId: 'req-5', msg: 'request completed' })}\n`)
  t.same(lines[2], '09:08:07 INFO  ? ? → ?', 'a line without its parts still prints')
})

t.test('events print their message and fields; audit events their name', async (t) => {
  const { lines, out } = sink()
  const stream = prettyLogStream(out)
  stream.write(
    [
      JSON.stringify({ level: 30, time: TIME, msg: 'Server listening at http://127.0.0.1:3000' }),
      JSON.stringify({ level: 30, time: TIME, audit: true, event: 'signin_succeeded', userId: 'u-1', via: 'login_page', requestId: 'req-3', ip: '127.0.0.1', msg: 'audit: signin_succeeded' }),
      JSON.stringify({ level: 40, time: TIME, event: 'insecure_file', msg: 'the database file has mode 0644' }),
      JSON.stringify({ level: 50, time: TIME, msg: 'request failed', detail: 'two words', n: 3, err: { type: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at f (a.ts:1:1)' } }),
      JSON.stringify({ level: 50, time: TIME, msg: 'no stack', err: { message: 'short' } }),
      JSON.stringify({ time: TIME, msg: 'no level', err: {} }),
      JSON.stringify({ level: 99, time: TIME }),
      'not json',
    ].join('\n'),
  )
  t.same(lines, [
    '09:08:07 INFO  Server listening at http://127.0.0.1:3000',
    '09:08:07 AUDIT signin_succeeded  userId=u-1 via=login_page requestId=req-3 ip=127.0.0.1',
    '09:08:07 WARN  the database file has mode 0644  event=insecure_file',
    '09:08:07 ERROR request failed  detail="two words" n=3',
    '  TypeError: boom',
    '  at f (a.ts:1:1)',
    '09:08:07 ERROR no stack',
    '  Error: short',
    '09:08:07 INFO  no level',
    '  Error: ',
    '09:08:07 INFO',
    'not json',
  ])
})

t.test('colours only when asked', async (t) => {
  const { lines, out } = sink()
  const stream = prettyLogStream(out, { color: true })
  stream.write(JSON.stringify({ level: 40, msg: 'careful' }))
  t.match(lines[0], /^\d\d:\d\d:\d\d \x1b\[33mWARN \x1b\[0m careful$/)
})

t.test('pino writes through it as fastify would', async (t) => {
  const { lines, out } = sink()
  const logger = pino({ level: 'info' }, prettyLogStream(out))
  logger.info({ event: 'shutdown', signal: 'SIGTERM' }, 'stopping')
  t.match(lines, [/^\d\d:\d\d:\d\d INFO  stopping  event=shutdown signal=SIGTERM$/])
})
