import t from 'tap'
import { Params } from '../../src/oauth/params.js'

t.test('treats empty parameters as absent', async (t) => {
  const p = new Params({ a: '', b: 'x', c: ['', 'y'] })
  t.equal(p.get('a'), undefined)
  t.equal(p.get('b'), 'x')
  t.equal(p.get('c'), 'y')
  t.doesNotThrow(() => p.rejectRepeated())
})

t.test('detects repeated parameters; a repeated resource is invalid_target', async (t) => {
  const p = new Params({ scope: ['a', 'b'] })
  t.equal(p.isRepeated('scope'), true)
  t.equal(p.get('scope'), undefined)
  t.throws(() => p.rejectRepeated(), { name: 'OAuthError', code: 'invalid_request' })
  const r = new Params({ resource: ['https://a', 'https://b'], scope: ['a', 'b'] })
  t.throws(() => r.rejectRepeated(), { name: 'OAuthError', code: 'invalid_target' })
})

t.test('values must be strings; anything but an object is refused', async (t) => {
  t.throws(() => new Params({ code: 1 }), /must be a string/)
  t.throws(() => new Params({ code: ['a', 2] }), /must be a string/)
  t.throws(() => new Params('text'), /form or a JSON object/)
  t.throws(() => new Params([1]), /form or a JSON object/)
  t.equal(new Params(undefined).get('x'), undefined)
})

t.test('a NUL character in any parameter is invalid_request (PostgreSQL text cannot hold one)', async (t) => {
  t.throws(() => new Params({ client_id: 'a\u0000b' }), { code: 'invalid_request', message: /NUL/ })
  t.throws(() => new Params({ username: ['x', '\u0000'] }), { code: 'invalid_request' })
})
