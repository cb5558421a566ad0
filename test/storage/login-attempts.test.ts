import t from 'tap'
import { loginAttemptRepository, type AttemptClaim } from '../../src/storage/login-attempts.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const WINDOW = 15 * 60_000
// A policy of the test's own: lock for (failures - 2) seconds from the third failure on.
const lockoutMs = (failures: number) => (failures >= 3 ? (failures - 2) * 1000 : 0)
const claimAt = (keyHash: string, now: number): AttemptClaim => ({ keyHash, now, windowMs: WINDOW, lockoutMs })

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: login attempts repository`, async (t) => {
    t.test('counts attempts, locks at the policy threshold and refuses while locked', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      t.same(await attempts.claim(claimAt('k', NOW)), { failures: 1, lockedUntil: null })
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 1, lockedUntil: null, expiresAt: NOW + WINDOW })
      t.same(await attempts.claim(claimAt('k', NOW + 10)), { failures: 2, lockedUntil: null })
      t.same(await attempts.claim(claimAt('k', NOW + 20)), { failures: 3, lockedUntil: NOW + 1020 })
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW })
      t.equal(await attempts.claim(claimAt('k', NOW + 500)), undefined, 'locked')
      t.equal(await attempts.claim(claimAt('k', NOW + 1019)), undefined, 'still locked a millisecond before the end')
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1020, expiresAt: NOW + 1020 + WINDOW }, 'refused attempts change nothing')
      t.same(await attempts.claim(claimAt('k', NOW + 1020)), { failures: 4, lockedUntil: NOW + 1020 + 2000 }, 'the lockout ended; the next one is longer')
    })

    t.test('keys are counted apart, and reset forgets one key only', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      await attempts.claim(claimAt('a', NOW))
      await attempts.claim(claimAt('a', NOW))
      await attempts.claim(claimAt('b', NOW))
      t.equal((await attempts.find('a'))?.failures, 2)
      t.equal((await attempts.find('b'))?.failures, 1)
      await attempts.reset('a')
      t.equal(await attempts.find('a'), undefined)
      t.equal((await attempts.find('b'))?.failures, 1)
      t.same(await attempts.claim(claimAt('a', NOW)), { failures: 1, lockedUntil: null }, 'counting starts again')
      await t.resolves(attempts.reset('unknown'))
    })

    t.test('a count lapses a window after the last attempt, or after the lockout ends', async (t) => {
      const attempts = loginAttemptRepository((await dialect.open(t)).db)
      await attempts.claim(claimAt('k', NOW))
      t.same(await attempts.claim(claimAt('k', NOW + WINDOW - 1)), { failures: 2, lockedUntil: null }, 'within the window')
      t.same(await attempts.claim(claimAt('k', NOW + 2 * WINDOW - 1)), { failures: 1, lockedUntil: null }, 'a window after the last attempt')
      await attempts.claim(claimAt('k', NOW + 2 * WINDOW))
      t.same(await attempts.claim(claimAt('k', NOW + 2 * WINDOW)), { failures: 3, lockedUntil: NOW + 2 * WINDOW + 1000 })
      const end = NOW + 2 * WINDOW + 1000
      t.same(await attempts.claim(claimAt('k', end + WINDOW - 1)), { failures: 4, lockedUntil: end + WINDOW - 1 + 2000 }, 'counted from the lockout end')
      const secondEnd = end + WINDOW - 1 + 2000
      t.same(await attempts.claim(claimAt('k', secondEnd + WINDOW)), { failures: 1, lockedUntil: null }, 'lapsed')
    })

    t.test('concurrent attempts cannot overshoot the threshold', async (t) => {
      const store = await dialect.open(t)
      const attempts = loginAttemptRepository(store.db)
      const results = await Promise.all(Array.from({ length: 20 }, () => attempts.claim(claimAt('k', NOW))))
      const allowed = results.filter((r) => r !== undefined)
      t.equal(allowed.length, 3, 'only as many attempts as the policy allows get through')
      t.same(allowed.map((r) => r?.failures).sort(), [1, 2, 3])
      t.same(await attempts.find('k'), { keyHash: 'k', failures: 3, lockedUntil: NOW + 1000, expiresAt: NOW + 1000 + WINDOW })
    })
  })
}
