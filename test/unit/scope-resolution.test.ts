import t from 'tap'
import { OAuthError } from '../../src/errors.js'
import { resolveScope, USER_SCOPES } from '../../src/oauth/scope.js'

function scopeError(fn: () => unknown): OAuthError {
  try {
    fn()
  } catch (error) {
    if (error instanceof OAuthError) return error
    throw error
  }
  throw new Error('expected an OAuthError')
}

t.test('no scope means the registered scopes, less the withheld ones', async (t) => {
  t.same(resolveScope(undefined, ['openid', 'a', 'b']), ['openid', 'a', 'b'])
  t.same(resolveScope(undefined, ['openid', 'a', 'email', 'b'], USER_SCOPES), ['a', 'b'])
  t.same(resolveScope(undefined, ['openid'], USER_SCOPES), [])
})

t.test('a requested scope is granted as asked, without repeats', async (t) => {
  t.same(resolveScope('b', ['a', 'b']), ['b'])
  t.same(resolveScope('b  a b', ['a', 'b']), ['b', 'a'])
  t.same(resolveScope('openid', ['openid', 'a']), ['openid'])
})

t.test('malformed, unregistered and withheld scopes are invalid_scope', async (t) => {
  const malformed = scopeError(() => resolveScope('a "b"', ['a', 'b']))
  t.equal(malformed.code, 'invalid_scope')
  t.match(malformed.description, /malformed/)
  const outside = scopeError(() => resolveScope('a c d', ['a', 'b']))
  t.equal(outside.code, 'invalid_scope')
  t.match(outside.description, /not allowed for this client: c d/)
  const withheld = scopeError(() => resolveScope('a openid', ['a', 'openid'], USER_SCOPES))
  t.equal(withheld.code, 'invalid_scope')
  t.match(withheld.description, /not available with this grant: openid/)
  t.equal(withheld.status, 400)
})

t.test('a scope of spaces only is malformed (RFC 6749 §3.3 asks for at least one token)', async (t) => {
  t.equal(scopeError(() => resolveScope(' ', ['a'])).code, 'invalid_scope')
  t.equal(scopeError(() => resolveScope('   ', ['a'])).description, 'scope is malformed')
})
