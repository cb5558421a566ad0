import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { NO_AUDIT } from '../../src/audit.js'
import { join } from 'node:path'
import t from 'tap'
import type { AuditEvent } from '../../src/audit.js'
import { loadKeyStore, type KeyLog } from '../../src/keys/key-store.js'
import { KeyRotationError } from '../../src/keys/key-timeline.js'
import { KEYS_LOCK, retireKey, rotateKeys } from '../../src/keys/key-writer.js'
import { FakeClock } from '../helpers/clock.js'

const policy = { publishDelaySeconds: 600, retentionSeconds: 3660 }
const jsonFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()
const iso = (ms: number) => new Date(ms).toISOString()

function recordingLog() {
  const lines: Array<{ level: string; details: Record<string, unknown>; message: string }> = []
  const log: KeyLog = {
    info: (details, message) => lines.push({ level: 'info', details, message }),
    warn: (details, message) => lines.push({ level: 'warn', details, message }),
    error: (details, message) => lines.push({ level: 'error', details, message }),
  }
  return { log, lines }
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('rotate: a next key published now, signing after the delay; the old key handed over', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const store = await loadKeyStore(dir, { clock })
  const a = store.signingKey().kid
  clock.advance(60)
  const created = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: false, policy, audit: NO_AUDIT }))!
  t.same(created, { kid: created.kid, alg: 'RS256', status: 'next', created_at: iso(clock.now()), signs_from: iso(clock.now() + 600_000), retires_at: null })
  t.equal((await stat(join(dir, `${created.kid}.json`))).mode & 0o777, 0o600)
  const old = JSON.parse(await readFile(join(dir, `${a}.json`), 'utf8'))
  t.equal(old.superseded_at, created.signs_from)
  t.equal(old.retires_at, iso(clock.now() + (600 + 3660) * 1000))
  t.same(await jsonFiles(dir), [`${a}.json`, `${created.kid}.json`].sort())

  const before = await jsonFiles(dir)
  await t.rejects(rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: false, policy, audit: NO_AUDIT }), KeyRotationError)
  t.same(await jsonFiles(dir), before, 'a refused rotation writes nothing')
  t.same(await readdir(dir).then((n) => n.filter((f) => f === KEYS_LOCK)), [], 'and leaves no lock behind')

  const urgent = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: true, policy, audit: NO_AUDIT }))!
  t.equal(urgent.status, 'current', '--now signs at once')
  await store.reload()
  t.same(
    store.list().map((k) => [k.kid, k.status]),
    [[a, 'previous'], [created.kid, 'retired'], [urgent.kid, 'current']],
    'the waiting key never signed and is retired; the old one verifies what it signed',
  )
  t.equal(store.signingKey().kid, urgent.kid)
})

t.test('retire: the current key is replaced by the waiting one, or by a new key', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const store = await loadKeyStore(dir, { clock })
  const a = store.signingKey().kid
  clock.advance(1)
  const b = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: false, policy, audit: NO_AUDIT }))!.kid
  const retired = await retireKey(dir, a, { now: () => clock.now(), audit: NO_AUDIT })
  t.same([retired.kid, retired.status, retired.retires_at], [a, 'retired', iso(clock.now())])
  await store.reload()
  t.equal(store.signingKey().kid, b, 'the next key signs at once')
  t.same(store.jwks().keys.map((k) => k.kid), [b], 'the retired key is no longer published')

  t.same(await retireKey(dir, a, { now: () => clock.now(), audit: NO_AUDIT }), retired, 'retiring again changes nothing')
  const before = await jsonFiles(dir)
  await t.rejects(retireKey(dir, 'no-such-kid', { now: () => clock.now(), audit: NO_AUDIT }), /no key no-such-kid in KEYS_DIR/)
  t.same(await jsonFiles(dir), before, 'an unknown kid writes nothing')

  clock.advance(1)
  await retireKey(dir, b, { now: () => clock.now(), audit: NO_AUDIT })
  await store.reload()
  const replacement = store.signingKey().kid
  t.not(replacement, b, 'no key left to sign: a new one signs at once')
  t.same(store.list().map((k) => k.status), ['retired', 'retired', 'current'])
})

t.test('a running store picks up changes, ignores what does not read, and never loses its signing key', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const store = await loadKeyStore(dir, { clock })
  const { log, lines } = recordingLog()
  const audit: AuditEvent[] = []
  const stop = store.watch({ intervalMs: 20, log, audit: { record: (e) => audit.push(e) } })
  t.teardown(stop)
  const a = store.signingKey().kid
  const jwksBefore = store.jwks()

  const b = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: false, policy, audit: NO_AUDIT }))!.kid
  await waitFor(() => store.jwks().keys.length === 2, 'the new key to be published')
  t.not(store.jwks(), jwksBefore, 'a new published set is a new object')
  t.equal(store.signingKey().kid, a, 'the new key does not sign before its time')
  t.equal(store.signingKey('RS256', clock.now() + 600_000).kid, b, 'and signs from signs_from on, without a reload')

  await writeFile(join(dir, 'half-written.json'), '{"kid":')
  await writeFile(join(dir, `${a}.json`), 'garbage')
  await waitFor(() => lines.filter((l) => l.details.event === 'key_file_ignored').length === 2, 'two ignored files')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(lines.filter((l) => l.details.event === 'key_file_ignored').length, 2, 'each bad file is reported once, not at every reload')
  t.ok(lines.every((l) => !l.message.includes('private') && !JSON.stringify(l.details).includes('"d"')), 'no key material in the log')
  t.equal(store.signingKey().kid, a, 'a key whose file went bad stays in use')
  t.equal(store.jwks().keys.length, 2)

  await writeFile(join(dir, 'half-written.json'), '')
  const { rm } = await import('node:fs/promises')
  await rm(join(dir, 'half-written.json'))
  await rm(join(dir, `${b}.json`))
  await waitFor(() => store.jwks().keys.length === 1, 'the deleted key to go')

  // Every key gone would leave nothing to sign with: refused, the loaded keys stay.
  await rm(join(dir, `${a}.json`))
  await waitFor(() => lines.some((l) => l.details.event === 'keys_reload_refused'), 'the refusal')
  t.equal(store.signingKey().kid, a)
  t.same(audit, [], 'reloading records no audit event')
})

t.test('scheduled rotation: due after KEY_ROTATION_DAYS, done once by one of several instances', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const first = await loadKeyStore(dir, { clock })
  const second = await loadKeyStore(dir, { clock })
  const audit: AuditEvent[] = []
  const { log } = recordingLog()
  const watch = (store: typeof first) =>
    store.watch({ intervalMs: 15, log, audit: { record: (e) => audit.push(e) }, rotation: { days: 90, policy } })
  const stops = [watch(first), watch(second)]
  t.teardown(() => stops.forEach((stop) => stop()))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await jsonFiles(dir)).length, 1, 'not due yet')
  clock.advance(90 * 86_400)
  await waitFor(async () => (await jsonFiles(dir)).length === 2, 'the scheduled rotation')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal((await jsonFiles(dir)).length, 2, 'exactly one new key')
  t.equal(audit.length, 1)
  t.match(audit[0], { event: 'key_rotated', alg: 'RS256', by: 'schedule', signsFrom: iso(clock.now() + 600_000) })
  for (const store of [first, second]) {
    await waitFor(() => store.list().length === 2, 'each instance to see the new key')
    t.same(store.list().map((k) => k.status), ['current', 'next'])
  }
})

t.test('a lock left by a crashed process is broken after 30 s', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  await loadKeyStore(dir, { clock })
  await writeFile(join(dir, KEYS_LOCK), '')
  const old = new Date(Date.now() - 60_000)
  await utimes(join(dir, KEYS_LOCK), old, old)
  const created = await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: true, policy, audit: NO_AUDIT })
  t.equal(created?.status, 'current')
})
