import t from 'tap'
import { loginAttemptRepository, type AttemptClaim, type LoginAttemptRepository } from '../../src/storage/login-attempts.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const WINDOW = 15 * 60_000
// A policy of the test's own: lock for (failures - 2) seconds from the third failure on.
const lockoutMs = (failures: number) => (failures >= 3 ? (failures - 2) * 1000 : 0)
const claimAt = (keyHash: string, now: number, policy = lockoutMs): AttemptClaim => ({ keyHash, now, windowMs: WINDOW, lockoutMs: policy })
// A looser policy for the second key of a pair: lock for a second from the tenth failure on.
const loose = (failures: number) => (failures >= 10 ? 1000 : 0)
/** One key's claim, as the single result or undefined. */
async function claimOne(attempts: LoginAttemptRepository, keyHash: string, now: number) {
  return (await attempts.claim([claimAt(keyHash, now)]))?.[0]
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: login attempts repository`, async (t) => {
    t.test('counts attempts, locks at the policy threshold and refuses while locked', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      t.same(await claimOne(attempts, 'k', NOW), { failures: 1, lockedUntil: null })
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 1, lockedUntil: null, expiresAt: NOW + WINDOW })
      t.same(await claimOne(attempts, 'k', NOW + 10), { failures: 2, lockedUntil: null })
      t.same(await claimOne(attempts, 'k', NOW + 20), { failures: 3, lockedUntil: NOW + 1020 })
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW })
      t.equal(await claimOne(attempts, 'k', NOW + 500), undefined, 'locked')
      t.equal(await claimOne(attempts, 'k', NOW + 1019), undefined, 'still locked a millisecond before the end')
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW }, 'refused attempts change nothing')
      t.same(await claimOne(attempts, 'k', NOW + 1020), { failures: 4, lockedUntil: NOW + 1020 + 2000 }, 'the lockout ended; the next one is longer')
    })

    t.test('keys are counted apart, and reset forgets one key only', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      await claimOne(attempts, 'a', NOW)
      await claimOne(attempts, 'a', NOW)
      await claimOne(attempts, 'b', NOW)
      t.equal((await attempts.find('a'))?.failures, 2)
      t.equal((await attempts.find('b'))?.failures, 1)
      await attempts.reset('a')
      t.equal(await attempts.find('a'), undefined)
      t.equal((await attempts.find('b'))?.failures, 1)
      t.same(await claimOne(attempts, 'a', NOW), { failures: 1, lockedUntil: null }, 'counting starts again')
      await t.resolves(attempts.reset('unknown'))
    })

    t.test('a count lapses a window after the last attempt, or after the lockout ends', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      await claimOne(attempts, 'k', NOW)
      t.same(await claimOne(attempts, 'k', NOW + WINDOW - 1), { failures: 2, lockedUntil: null }, 'within the window')
      t.same(await claimOne(attempts, 'k', NOW + 2 * WINDOW - 1), { failures: 1, lockedUntil: null }, 'a window after the last attempt')
      await claimOne(attempts, 'k', NOW + 2 * WINDOW)
      t.same(await claimOne(attempts, 'k', NOW + 2 * WINDOW), { failures: 3, lockedUntil: NOW + 2 * WINDOW + 1000 })
      const end = NOW + 2 * WINDOW + 1000
      t.same(await claimOne(attempts, 'k', end + WINDOW - 1), { failures: 4, lockedUntil: end + WINDOW - 1 + 2000 }, 'counted from the lockout end')
      const secondEnd = end + WINDOW - 1 + 2000
      t.same(await claimOne(attempts, 'k', secondEnd + WINDOW), { failures: 1, lockedUntil: null }, 'lapsed')
    })

    t.test('concurrent attempts cannot overshoot the threshold', async (t) => {
      const store = await dialect.open(t)
      const attempts = loginAttemptRepository(store.db)
      const results = await Promise.all(Array.from({ length: 20 }, () => claimOne(attempts, 'k', NOW)))
      const allowed = results.filter((r) => r !== undefined)
      t.equal(allowed.length, 3, 'only as many attempts as the policy allows get through')
      t.same(allowed.map((r) => r?.failures).sort(), [1, 2, 3])
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1000, expiresAt: NOW + 1000 + WINDOW })
    })

    t.test('an attempt counts against every key, or against none while one of them is locked', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      const pair = (first: string, now: number) => attempts.claim([claimAt(first, now), claimAt('u', now, loose)])
      t.same(await pair('a', NOW), [
        { failures: 1, lockedUntil: null },
        { failures: 1, lockedUntil: null },
      ])
      await pair('a', NOW)
      t.same(await pair('a', NOW), [
        { failures: 3, lockedUntil: NOW + 1000 },
        { failures: 3, lockedUntil: null },
      ], 'each key by its own policy')
      t.equal(await pair('a', NOW + 10), undefined, 'the first key is locked')
      t.equal((await attempts.find('u'))?.failures, 3, 'so the second is not counted')
      for (let i = 0; i < 7; i++) await pair(`b${i}`, NOW + 20)
      t.same(await attempts.find('u'), { keyHash: 'u', failures: 10, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW }, 'locked by its tenth failure')
      t.equal(await pair('c', NOW + 30), undefined, 'the second key is locked')
      t.equal(await attempts.find('c'), undefined, 'a new first key is rolled back')
      t.equal(await pair('b0', NOW + 30), undefined)
      t.same(await attempts.find('b0'), { keyHash: 'b0', failures: 1, lockedUntil: null, expiresAt: NOW + 20 + WINDOW }, 'an existing one is left as it was')
      t.same(await attempts.find('u'), { keyHash: 'u', failures: 10, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW }, 'refusals change nothing')
      t.same(await pair('c', NOW + 1020), [
        { failures: 1, lockedUntil: null },
        { failures: 11, lockedUntil: NOW + 2020 },
      ], 'counted again once the lockout ends')
    })

    t.test('concurrent pairs of keys cannot overshoot either threshold', async (t) => {
      const store = await dialect.open(t)
      const attempts = loginAttemptRepository(store.db)
      const pair = (first: string) => attempts.claim([claimAt(first, NOW), claimAt('u', NOW, loose)])
      const sameFirst = await Promise.all(Array.from({ length: 20 }, () => pair('a')))
      t.equal(sameFirst.filter((r) => r !== undefined).length, 3, 'the shared first key lets 3 through')
      t.equal((await attempts.find('u'))?.failures, 3, 'and the second key counts only those')
      const spread = await Promise.all(Array.from({ length: 20 }, (_, i) => pair(`b${i}`)))
      const allowed = spread.flatMap((r, i) => (r === undefined ? [] : [i]))
      t.equal(allowed.length, 7, 'the shared second key lets 7 more through')
      t.same(await attempts.find('u'), { keyHash: 'u', failures: 10, lockedUntil: NOW + 1000, expiresAt: NOW + 1000 + WINDOW })
      for (let i = 0; i < 20; i++) {
        const expected = allowed.includes(i) ? 1 : undefined
        t.equal((await attempts.find(`b${i}`))?.failures, expected, `b${i} counted only if let through`)
      }
    })
  })
}
