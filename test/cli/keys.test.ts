import { join } from 'node:path'
import t from 'tap'
import { runCliInProcess } from '../helpers/cli.js'

const env = (dir: string) => ({ DATABASE_URL: join(dir, 'latchkey.sqlite'), KEYS_DIR: join(dir, 'keys'), KEY_PUBLISH_DELAY: '600', ACCESS_TOKEN_TTL: '900' })
const auditLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
const warnings = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('latchkey: warning'))

t.test('keys rotate, retire and list: JSON and human output, audit lines on stderr', async (t) => {
  const e = env(t.testdir())
  const first = await runCliInProcess(['keys', 'rotate', '--json'], { env: e })
  t.equal(first.code, 0, first.stderr)
  const a = JSON.parse(first.stdout)
  t.match(a, { alg: 'RS256', status: 'current' }, 'an empty KEYS_DIR: the first key signs at once')
  t.equal(a.signs_from, a.created_at)
  t.match(auditLines(first.stderr), [{ audit: true, event: 'key_rotated', kid: a.kid, by: 'command', via: 'cli' }])

  const second = await runCliInProcess(['keys', 'rotate'], { env: e })
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, /^\S+ {2}RS256 {2}next: published now, signs from \S+Z\nrunning servers pick it up within seconds\n$/)
  const b = second.stdout.split(' ')[0]!

  const refused = await runCliInProcess(['keys', 'rotate'], { env: e })
  t.equal(refused.code, 1)
  t.match(refused.stderr, new RegExp(`^latchkey: key ${b} is already waiting to sign .*--now`))
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line, and no audit line: nothing changed')
  t.equal(refused.stdout, '')

  const listed = await runCliInProcess(['keys', 'list', '--json'], { env: e })
  const keys = JSON.parse(listed.stdout) as Array<Record<string, string | null>>
  t.same(keys.map((k) => [k.kid, k.status]), [[a.kid, 'current'], [b, 'next']])
  t.same(Object.keys(keys[0]!).sort(), ['alg', 'created_at', 'kid', 'retires_at', 'signs_from', 'status'])
  t.equal(Date.parse(keys[0]!.retires_at!) - Date.parse(keys[1]!.signs_from!), (900 + 60) * 1000, 'the old key is kept one token lifetime plus tolerance')
  const human = await runCliInProcess(['keys', 'list'], { env: e })
  t.match(human.stdout, new RegExp(`^${a.kid} {2}RS256 {2}current {3}created \\S+ {2}signs from \\S+ {2}retires \\S+\\n${b} {2}RS256 {2}next {6}created \\S+ {2}signs from \\S+\\n$`))

  const retired = await runCliInProcess(['keys', 'retire', '--json', '--', a.kid], { env: e })
  t.equal(retired.code, 0, retired.stderr)
  t.match(JSON.parse(retired.stdout), { kid: a.kid, status: 'retired' })
  t.same(warnings(retired.stderr), [], retired.stderr)
  t.match(auditLines(retired.stderr), [{ event: 'key_retired', kid: a.kid, via: 'cli' }])
  const afterRetire = JSON.parse((await runCliInProcess(['keys', 'list', '--json'], { env: e })).stdout) as Array<{ kid: string; status: string }>
  t.same(afterRetire.map((k) => [k.kid, k.status]), [[a.kid, 'retired'], [b, 'current']], 'the waiting key took over at once')

  const humanRetire = await runCliInProcess(['keys', 'retire', '--', b], { env: e })
  t.match(humanRetire.stdout, /retired .*\nno longer published or trusted; running servers drop it within seconds\n$/, humanRetire.stderr)

  const now = await runCliInProcess(['keys', 'rotate', '--now', '--json'], { env: e })
  t.match(JSON.parse(now.stdout), { status: 'current' })
  t.match(auditLines(now.stderr), [{ event: 'key_rotated', by: 'immediate' }])

  const unknown = await runCliInProcess(['keys', 'retire', 'nope'], { env: e })
  t.equal(unknown.code, 1)
  t.equal(unknown.stderr, 'latchkey: no key nope in KEYS_DIR\n')
})

t.test('keys rotate: every algorithm with a current key, or one with --alg; refusals before anything is written', async (t) => {
  const e = env(t.testdir())
  const first = JSON.parse((await runCliInProcess(['keys', 'rotate', '--json'], { env: e })).stdout)
  t.same(Object.keys(first).sort(), ['alg', 'created_at', 'kid', 'signs_from', 'status'], 'only RS256 exists: the contract\'s object, nothing added')
  const es = await runCliInProcess(['keys', 'rotate', '--alg', 'ES256', '--json'], { env: e })
  t.equal(es.code, 0, es.stderr)
  const esKey = JSON.parse(es.stdout)
  t.match(esKey, { alg: 'ES256', status: 'next' }, 'a first ES256 key waits the delay (RS256 signs meanwhile)')
  t.equal(Date.parse(esKey.signs_from) - Date.parse(esKey.created_at), 600_000)
  t.notOk('also_rotated' in esKey, '--alg prints that one key')

  const esNow = JSON.parse((await runCliInProcess(['keys', 'rotate', '--alg', 'ES256', '--now', '--json'], { env: e })).stdout)
  t.match(esNow, { alg: 'ES256', status: 'current' }, '--now: signs at once, replacing the waiting key')

  const both = await runCliInProcess(['keys', 'rotate', '--json'], { env: e })
  t.equal(both.code, 0, both.stderr)
  t.match(JSON.parse(both.stdout), { alg: 'RS256', status: 'next', also_rotated: [{ alg: 'ES256', status: 'next' }] }, 'RS256 first, then every other algorithm with a current key')
  t.match(auditLines(both.stderr), [{ event: 'key_rotated', alg: 'RS256', by: 'command' }, { event: 'key_rotated', alg: 'ES256', by: 'command' }])
  t.equal((await runCliInProcess(['keys', 'rotate'], { env: e })).code, 1, 'both waiting: refused')

  // RS256 could rotate, ES256 could not: refused as a whole, nothing written.
  t.equal((await runCliInProcess(['keys', 'rotate', '--alg', 'RS256', '--now'], { env: e })).code, 0)
  const count = async () => (JSON.parse((await runCliInProcess(['keys', 'list', '--json'], { env: e })).stdout) as unknown[]).length
  const before = await count()
  const refused = await runCliInProcess(['keys', 'rotate'], { env: e })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /already waiting to sign/)
  t.equal(await count(), before, 'nothing written: the RS256 rotation was refused with the ES256 one')

  const human = await runCliInProcess(['keys', 'list'], { env: e })
  t.match(human.stdout, /ES256  current/, 'keys list shows the algorithm')
  t.match(human.stdout, /RS256  current/)
  const bad = await runCliInProcess(['keys', 'rotate', '--alg', 'HS256'], { env: e })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /RS256, ES256, EdDSA/)
})

t.test('keys commands have --help', async (t) => {
  for (const args of [['keys'], ['keys', 'list'], ['keys', 'rotate'], ['keys', 'retire']]) {
    const run = await runCliInProcess([...args, '--help'])
    t.equal(run.code, 0, args.join(' '))
    t.match(run.stdout, /Usage: latchkey keys/)
  }
})
