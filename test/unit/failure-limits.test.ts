import t from 'tap'
import {
  clientAuthFailureLimit,
  clientAuthKey,
  FAILURE_WINDOW_MS,
  loggableClientId,
  secondsUntil,
  signInAddressKey,
  signInAddressLimit,
} from '../../src/accounts/failure-limits.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import type { FailureCount, FailureCounterRepository } from '../../src/storage/failure-counters.js'
import { FakeClock } from '../helpers/clock.js'

/** The repository's contract in memory (test/storage/failure-counters.test.ts checks the real one). */
function memoryCounters(): FailureCounterRepository & { rows: Map<string, FailureCount> } {
  const rows = new Map<string, FailureCount>()
  const live = (key: string, now: number) => {
    const row = rows.get(key)
    return row && row.expiresAt > now ? row : undefined
  }
  return {
    rows,
    async increment(key, now, windowMs) {
      const row = live(key, now)
      const next = row ? { failures: row.failures + 1, expiresAt: row.expiresAt } : { failures: 1, expiresAt: now + windowMs }
      rows.set(key, next)
      return next
    },
    async decrement(key, now) {
      const row = live(key, now)
      if (row && row.failures > 0) rows.set(key, { ...row, failures: row.failures - 1 })
    },
    async find(key, now) {
      return live(key, now)
    },
  }
}

t.test('the window is 15 minutes', async (t) => {
  t.equal(FAILURE_WINDOW_MS, 900_000)
})

t.test('Retry-After is whole seconds, rounded up, at least 1', async (t) => {
  t.equal(secondsUntil(10_000, 0), 10)
  t.equal(secondsUntil(10_001, 0), 11)
  t.equal(secondsUntil(1, 0), 1)
  t.equal(secondsUntil(0, 0), 1, 'never 0: the count may be about to lapse')
  t.equal(secondsUntil(0, 5000), 1)
})

t.test('the client-auth key is a hash of the client_id and the address, kept apart', async (t) => {
  const key = clientAuthKey('lk_a', '192.0.2.1')
  t.equal(key, sha256Hex('client-auth:["lk_a","192.0.2.1"]'))
  t.not(clientAuthKey('lk_b', '192.0.2.1'), key, 'another client_id')
  t.not(clientAuthKey('lk_a', '192.0.2.2'), key, 'another address')
  t.equal(clientAuthKey('lk_a', '::ffff:192.0.2.1'), key, 'an IPv4-mapped address counts as the IPv4 one')
  t.equal(clientAuthKey('lk_a', '2001:db8:1:2::1'), clientAuthKey('lk_a', '2001:db8:1:2::ffff'), 'one IPv6 /64, one count')
  t.not(clientAuthKey('a","b', 'c'), clientAuthKey('a', 'b","c'), 'no client_id can pose as another pair')
  t.not(clientAuthKey('', '192.0.2.1'), key, 'unreadable credentials count on their own')
})

t.test('the sign-in address key is a hash of the address', async (t) => {
  t.equal(signInAddressKey('192.0.2.1'), sha256Hex('signin-address:192.0.2.1'))
  t.equal(signInAddressKey('2001:db8:1:2::1'), signInAddressKey('2001:db8:1:2:3::'))
  t.not(signInAddressKey('192.0.2.1'), clientAuthKey('', '192.0.2.1'))
})

t.test('client authentication: failures up to the limit pass as they are, then each is refused', async (t) => {
  const clock = new FakeClock()
  const counters = memoryCounters()
  const limit = clientAuthFailureLimit({ counters, clock, maxFailures: 3 })
  const fail = () => limit.failed({ clientId: 'lk_abc', ip: '203.0.113.9' })
  for (let i = 0; i < 3; i++) t.equal(await fail(), undefined, `failure ${i + 1}`)
  t.same(await fail(), { retryAfterSeconds: 900, first: true }, 'the 4th failure is refused')
  clock.advance(100)
  t.same(await fail(), { retryAfterSeconds: 800, first: false }, 'the window does not move')
  t.equal(await limit.failed({ clientId: 'lk_abc', ip: '192.0.2.1' }), undefined, 'another address')
  clock.advance(800)
  t.equal(await fail(), undefined, 'the count lapsed')
})

t.test('a client_id is logged only in latchkey-shape', async (t) => {
  t.equal(loggableClientId('lk_abc-DEF_123'), 'lk_abc-DEF_123')
  for (const clientId of ['pasted-secret-Zx9', '', 'lk_', 'lk_has space', `lk_${'a'.repeat(65)}`]) t.equal(loggableClientId(clientId), undefined, clientId)
})

t.test('sign-ins: each counts from its start, refusals past the limit, a non-failure is taken back', async (t) => {
  const clock = new FakeClock()
  const counters = memoryCounters()
  const limit = signInAddressLimit({ counters, clock, maxFailures: 2 })
  const ip = '203.0.113.9'
  t.same(await limit.start(ip), { allowed: true })
  t.same(await limit.start(ip), { allowed: true })
  t.equal(counters.rows.get(signInAddressKey(ip))?.failures, 2, 'counted from the start')
  await limit.notFailed(ip)
  t.equal(counters.rows.get(signInAddressKey(ip))?.failures, 1, 'a success is taken back')
  t.same(await limit.start(ip), { allowed: true })
  clock.advance(60)
  t.same(await limit.start(ip), { allowed: false, refusal: { retryAfterSeconds: 840, first: true } })
  t.same(await limit.start(ip), { allowed: false, refusal: { retryAfterSeconds: 840, first: false } })
  t.same(await limit.start('192.0.2.1'), { allowed: true }, 'another address')
  clock.advance(840)
  t.same(await limit.start(ip), { allowed: true }, 'the window passed')
})
