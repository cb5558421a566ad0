import t from 'tap'
import { allowedAudiences, resolveAudience } from '../../src/oauth/audience.js'

const DEFAULT = 'http://localhost:4000'
const A = 'https://a.example.com/api'
const B = 'https://b.example.com'

t.test('a client registered for no audience may request DEFAULT_AUDIENCE only', async (t) => {
  t.same(allowedAudiences([], DEFAULT), [DEFAULT])
  t.equal(resolveAudience(undefined, [], DEFAULT), DEFAULT, 'absent: the default audience')
  t.equal(resolveAudience(DEFAULT, [], DEFAULT), DEFAULT, 'named: the default audience')
  t.throws(() => resolveAudience(A, [], DEFAULT), { name: 'OAuthError', code: 'invalid_target', message: /not registered for this resource/ })
})

t.test('a client registered for audiences may request exactly those', async (t) => {
  t.same(allowedAudiences([A, B], DEFAULT), [A, B])
  t.equal(resolveAudience(A, [A, B], DEFAULT), A)
  t.equal(resolveAudience(B, [A, B], DEFAULT), B)
  t.throws(() => resolveAudience(DEFAULT, [A, B], DEFAULT), { code: 'invalid_target' }, 'DEFAULT_AUDIENCE only when registered')
  t.throws(() => resolveAudience('https://c.example.com', [A, B], DEFAULT), { code: 'invalid_target' })
  // A string comparison, as the resource server compares `aud`: no normalisation.
  t.throws(() => resolveAudience(`${A}/`, [A], DEFAULT), { code: 'invalid_target' }, 'a trailing slash is another audience')
  t.throws(() => resolveAudience('HTTPS://a.example.com/api', [A], DEFAULT), { code: 'invalid_target' })
})

t.test('absent: DEFAULT_AUDIENCE when registered, else the only audience, else resource is required', async (t) => {
  t.equal(resolveAudience(undefined, [A, DEFAULT], DEFAULT), DEFAULT, 'DEFAULT_AUDIENCE among several')
  t.equal(resolveAudience(undefined, [A], DEFAULT), A, 'the one registered audience')
  t.throws(() => resolveAudience(undefined, [A, B], DEFAULT), { code: 'invalid_target', message: /resource is required/ })
})

t.test('a malformed resource is invalid_target whatever is registered', async (t) => {
  for (const resource of ['/api', 'https://a.example.com/api#x', 'https://a.example.com/a b', 'not a uri']) {
    t.throws(() => resolveAudience(resource, [resource], DEFAULT), { code: 'invalid_target', message: /absolute URI/ }, resource)
    t.throws(() => resolveAudience(resource, [], DEFAULT), { code: 'invalid_target', message: /absolute URI/ }, resource)
  }
})
