import t from 'tap'
import { addressKey, LOGIN_THROTTLE, lockoutMs, usernameKey } from '../../src/accounts/login-throttle.js'
import { sha256Hex } from '../../src/oauth/secrets.js'

t.test('the policy: 5 failures from one address or 50 from anywhere within 15 minutes, then 1 minute doubling up to 15', async (t) => {
  t.same(LOGIN_THROTTLE, { maxFailuresPerAddress: 5, maxFailuresPerUsername: 50, windowMs: 900_000, firstLockoutMs: 60_000, maxLockoutMs: 900_000 })
  t.same([1, 2, 3, 4].map((n) => lockoutMs(n, 5)), [0, 0, 0, 0], 'no lockout before the fifth failure')
  t.same([5, 6, 7, 8, 9, 10, 100, 5000].map((n) => lockoutMs(n, 5) / 60_000), [1, 2, 4, 8, 15, 15, 15, 15])
  t.same([1, 49].map((n) => lockoutMs(n, 50)), [0, 0], 'no lockout before the fiftieth failure')
  t.same([50, 51, 52, 53, 54, 55].map((n) => lockoutMs(n, 50) / 60_000), [1, 2, 4, 8, 15, 15])
  // One address, at the cap, fails once per lockout: were the cap shorter than the window, that
  // alone would keep the username's count alive until it locked the username for everyone.
  t.ok(LOGIN_THROTTLE.maxLockoutMs >= LOGIN_THROTTLE.windowMs, 'the longest lockout is no shorter than the window')
})

t.test('the username key is a hash of the normalised username', async (t) => {
  const key = usernameKey('Alice')
  t.match(key, /^[0-9a-f]{64}$/)
  t.equal(key, sha256Hex('login:alice'))
  t.equal(usernameKey('alice'), key, 'case does not matter')
  t.equal(usernameKey('ALICE'), key)
  t.equal(usernameKey('ｆｕｌｌ'), usernameKey('full'), 'Unicode compatibility forms share a count')
  t.not(usernameKey('bob'), key)
})

t.test('the address key is a hash of the normalised username and the address', async (t) => {
  const key = addressKey('Alice', '192.0.2.1')
  t.equal(key, sha256Hex('login-ip:alice\n192.0.2.1'))
  t.equal(addressKey('ALICE', '192.0.2.1'), key, 'case does not matter')
  t.not(addressKey('alice', '192.0.2.2'), key, 'another address, another count')
  t.not(addressKey('bob', '192.0.2.1'), key, 'another username, another count')
  t.not(key, usernameKey('alice'))
  t.equal(addressKey('alice', '::ffff:192.0.2.1'), key, 'an IPv4-mapped address counts as the IPv4 one')
  t.equal(addressKey('alice', '2001:db8:1:2::1'), addressKey('alice', '2001:DB8:1:2:ffff:ffff:ffff:ffff'), 'one IPv6 /64, one count')
  t.not(addressKey('alice', '2001:db8:1:2::1'), addressKey('alice', '2001:db8:1:3::1'), 'another /64, another count')
})

