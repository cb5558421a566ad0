import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { NO_AUDIT } from '../../src/audit.js'
import { join } from 'node:path'
import t from 'tap'
import type { AuditEvent } from '../../src/audit.js'
import { loadKeyStore, type KeyLog } from '../../src/keys/key-store.js'
import { KeyRotationError } from '../../src/keys/key-timeline.js'
import { KEYS_LOCK, KEYS_POLICY, retireKey, rotateKeys, withLock } from '../../src/keys/key-writer.js'
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

/** Generous: the machine may be busy with other test files; the 5 s of the contract is shown end to end. */
async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
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
    store.list().map((k) => [k.kid, k.status]).sort(),
    [[a, 'previous'], [created.kid, 'retired'], [urgent.kid, 'current']].sort(),
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

  const { rm } = await import('node:fs/promises')
  await rm(join(dir, 'half-written.json'))
  // A was told B takes over; without B, signing would stop when A retires: refused, the loaded keys stay.
  await rm(join(dir, `${b}.json`))
  await waitFor(() => lines.some((l) => l.details.event === 'keys_reload_refused'), 'the refusal')
  t.equal(store.jwks().keys.length, 2)
  t.equal(store.signingKey('RS256', clock.now() + 600_000).kid, b, 'B still takes over on time')
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
  t.teardown(() => Promise.all(stops.map((stop) => stop())))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await jsonFiles(dir)).length, 1, 'not due yet')
  clock.advance(90 * 86_400)
  await waitFor(async () => (await jsonFiles(dir)).length === 2, 'the scheduled rotation')
  // The event is recorded once the rotation is complete (after the old key's update and the lock).
  await waitFor(() => audit.length >= 1, 'the rotation to complete')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await jsonFiles(dir)).length, 2, 'exactly one new key')
  t.equal(audit.length, 1)
  t.match(audit[0], { event: 'key_rotated', alg: 'RS256', by: 'schedule', signsFrom: iso(clock.now() + 600_000) })
  for (const store of [first, second]) {
    await waitFor(() => store.list().length === 2, 'each instance to see the new key')
    t.same(store.list().map((k) => k.status), ['current', 'next'])
  }
})

t.test('scheduled rotation rotates every algorithm that has a current key; a running server recreates a lost SIGNING_ALG key', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const first = await loadKeyStore(dir, { clock })
  const second = await loadKeyStore(dir, { clock })
  await first.ensureKey('ES256', { policy, audit: NO_AUDIT })
  clock.advance(600)
  await second.reload()
  t.same(second.list().map((k) => [k.alg, k.status]).sort(), [['ES256', 'current'], ['RS256', 'current']])
  const audit: AuditEvent[] = []
  const { log } = recordingLog()
  const watch = (store: typeof first) =>
    store.watch({ intervalMs: 15, log, audit: { record: (e) => audit.push(e) }, rotation: { days: 90, policy }, accessTokenAlg: { alg: 'ES256', policy } })
  const stops = [watch(first), watch(second)]
  t.teardown(() => Promise.all(stops.map((stop) => stop())))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await jsonFiles(dir)).length, 2, 'not due yet')
  clock.advance(90 * 86_400)
  await waitFor(() => audit.length >= 2, 'both algorithms to rotate')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await jsonFiles(dir)).length, 4, 'one new key per algorithm, by one instance')
  t.same(audit.map((e) => [e.event, (e as { alg: string }).alg, (e as { by: string }).by]).sort(), [['key_rotated', 'ES256', 'schedule'], ['key_rotated', 'RS256', 'schedule']])
  await waitFor(() => first.list().length === 4, 'the instance to see both')
  const waiting = first.list().filter((k) => k.status === 'next').map((k) => k.alg).sort()
  t.same(waiting, ['ES256', 'RS256'])

  // `keys retire` of every ES256 key: the watching servers (SIGNING_ALG=ES256) create a new one, published before it signs.
  for (const key of first.list().filter((k) => k.alg === 'ES256')) await retireKey(dir, key.kid, { now: () => clock.now(), audit: NO_AUDIT })
  await waitFor(() => audit.filter((e) => (e as { by?: string }).by === 'configuration').length === 1, 'a new ES256 key')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(audit.filter((e) => (e as { by?: string }).by === 'configuration').length, 1, 'by one instance only')
  await waitFor(() => first.list().some((k) => k.alg === 'ES256' && k.status === 'next'), 'the instance to see it')
  t.equal(first.accessTokenKey('ES256').alg, 'RS256', 'RS256 signs access tokens until it does')
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

t.test('rotation keeps the old key as long as the longest-lived server needs, whatever the CLI environment says', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  await loadKeyStore(dir, { clock, policy: { publishDelaySeconds: 900, retentionSeconds: 86_460 } })
  await loadKeyStore(dir, { clock, policy: { publishDelaySeconds: 600, retentionSeconds: 3660 } })
  t.same(JSON.parse(await readFile(join(dir, KEYS_POLICY), 'utf8')), { publish_delay_seconds: 900, retention_seconds: 86_460 }, 'the longest of the servers')
  const created = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: false, policy, audit: NO_AUDIT }))!
  t.equal(created.signs_from, iso(clock.now() + 900_000), "the servers' publish delay")
  const keys = (await loadKeyStore(dir, { clock })).list()
  t.equal(keys.find((k) => k.kid !== created.kid)!.retires_at, iso(clock.now() + (900 + 86_460) * 1000), "the servers' retention, not the CLI's 3660 s")
  await writeFile(join(dir, KEYS_POLICY), '{"publish_delay_seconds":"x"}')
  clock.advance(2000)
  const ownOnly = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: true, policy, audit: NO_AUDIT }))!
  t.ok(ownOnly, 'an unreadable policy file falls back to the caller’s own policy')
})

t.test('one stray file does not block a retirement: it is skipped with a warning', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const kid = (await loadKeyStore(dir, { clock })).signingKey().kid
  await writeFile(join(dir, 'stray.json'), 'not a key')
  const warnings: string[] = []
  const retired = await retireKey(dir, kid, { now: () => clock.now(), audit: NO_AUDIT, warn: (m) => warnings.push(m) })
  t.equal(retired.status, 'retired')
  t.match(warnings, [/stray\.json is not a valid key file .*\(skipped\)/])
})

t.test('the lock: a stale lock is broken once, a live holder keeps its lock, and only the holder removes it', async (t) => {
  const dir = t.testdir()
  const lock = join(dir, KEYS_LOCK)
  await writeFile(lock, 'someone-else')
  const old = new Date(Date.now() - 60_000)
  await utimes(lock, old, old)
  let inside = 0
  let most = 0
  const work = async () => {
    inside++
    most = Math.max(most, inside)
    await new Promise((resolve) => setTimeout(resolve, 100))
    inside--
  }
  await Promise.all([withLock(dir, work), withLock(dir, work), withLock(dir, work)])
  t.equal(most, 1, 'never two holders at once, also when breaking a stale lock')
  t.same((await readdir(dir)).filter((n) => n.startsWith(KEYS_LOCK)), [], 'nothing left behind')

  await withLock(dir, async () => {
    // Someone broke our lock (a holder stalled past the stale age) and took it.
    await writeFile(lock, 'the next holder')
  })
  t.equal(await readFile(lock, 'utf8'), 'the next holder', "the next holder's lock is not removed by the one before")
})

t.test('run as root on a KEYS_DIR owned by the server user, the files written belong to that user', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const dir = t.testdir()
  const { chown } = await import('node:fs/promises')
  await chown(dir, 4242, 4343)
  const clock = new FakeClock()
  const created = (await rotateKeys(dir, { now: () => clock.now(), alg: 'RS256', immediate: true, policy, audit: NO_AUDIT }))!
  const info = await stat(join(dir, `${created.kid}.json`))
  t.same([info.uid, info.gid, info.mode & 0o777], [4242, 4343, 0o600])
})
