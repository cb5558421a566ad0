import t from 'tap'
import { LOGIN_THROTTLE, lockoutMs, throttleKey } from '../../src/accounts/login-throttle.js'
import { sha256Hex } from '../../src/oauth/secrets.js'

t.test('the policy: 5 failures within 15 minutes, then 1 minute doubling up to 15', async (t) => {
  t.same(LOGIN_THROTTLE, { maxFailures: 5, windowMs: 900_000, firstLockoutMs: 60_000, maxLockoutMs: 900_000 })
  t.same([1, 2, 3, 4].map(lockoutMs), [0, 0, 0, 0], 'no lockout before the fifth failure')
  t.same([5, 6, 7, 8, 9, 10, 100, 5000].map((n) => lockoutMs(n) / 60_000), [1, 2, 4, 8, 15, 15, 15, 15])
})

t.test('the key is a hash of the normalised username', async (t) => {
  const key = throttleKey('Alice')
  t.match(key, /^[0-9a-f]{64}$/)
  t.not(key, sha256Hex('Alice'))
  t.not(key, sha256Hex('alice'))
  t.equal(throttleKey('alice'), key, 'case does not matter')
  t.equal(throttleKey('ALICE'), key)
  t.equal(throttleKey('ｆｕｌｌ'), throttleKey('full'), 'Unicode compatibility forms share a count')
  t.not(throttleKey('bob'), key)
})
