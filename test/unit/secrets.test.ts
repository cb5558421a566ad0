import t from 'tap'
import { parseScope, formatScope, isScopeToken } from '../../src/oauth/scope.js'
import { randomToken, secretMatchesHash, sha256Hex } from '../../src/oauth/secrets.js'
import { fromDbAmr, fromDbBool, fromDbList, fromDbTime, toDbAmr, toDbBool, toDbList } from '../../src/storage/convert.js'

t.test('random tokens carry 256 bits by default and never repeat', async (t) => {
  const a = randomToken()
  t.match(a, /^[A-Za-z0-9_-]{43}$/)
  t.not(a, randomToken())
  t.equal(Buffer.from(randomToken(16), 'base64url').length, 16)
})

t.test('compares a secret with its stored hash', async (t) => {
  const stored = sha256Hex('s3cret')
  t.ok(secretMatchesHash('s3cret', stored))
  t.notOk(secretMatchesHash('s3cret ', stored))
  t.notOk(secretMatchesHash('s3cret', 'abcd'), 'a malformed stored hash never matches')
})

t.test('parses scope strings per RFC 6749 §3.3', async (t) => {
  t.same(parseScope('openid  profile openid'), ['openid', 'profile'])
  t.equal(parseScope(''), undefined, 'no scope token at all is malformed')
  t.equal(parseScope('   '), undefined)
  t.equal(parseScope('a "b"'), undefined)
  t.equal(parseScope('a\\b'), undefined)
  t.ok(isScopeToken('source:w'))
  t.notOk(isScopeToken('é'))
  t.equal(formatScope(['a', 'b']), 'a b')
})

t.test('maps stored values the same way for both dialects', async (t) => {
  t.equal(fromDbTime('1700000000000'), 1700000000000)
  t.equal(fromDbTime(5n), 5)
  t.equal(toDbBool(true), 1)
  t.equal(toDbBool(false), 0)
  t.equal(fromDbBool(1), true)
  t.equal(fromDbBool(true), true)
  t.equal(fromDbBool('1'), true)
  t.equal(fromDbBool(0), false)
  t.same(fromDbList(toDbList(['a', 'b'])), ['a', 'b'])
  t.throws(() => fromDbList('{"a":1}'))
  t.same(fromDbAmr(toDbAmr(['pwd', 'otp', 'mfa'])), ['pwd', 'otp', 'mfa'])
  t.same(fromDbAmr(null), ['pwd'], 'a row from before second factors was a password sign-in')
  for (const bad of ['[]', '["pwd","sms"]', '{"0":"pwd"}', '[1]']) t.throws(() => fromDbAmr(bad), { message: /not a list of authentication methods/ }, bad)
})
