import t from 'tap'
import { OAuthError, safeDescription } from '../../src/errors.js'

t.test('error descriptions keep to the characters RFC 6749 §5.2 allows', async (t) => {
  const error = new OAuthError('unsupported_grant_type', 'grant_type "a"b\\\n\u00e9" is not supported')
  t.equal(error.description, "grant_type 'a'b' is not supported")
  t.match(error.description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/)
  t.equal(safeDescription('x'.repeat(500)).length, 203, 'long echoes are cut')
  t.equal(error.status, 400)
  t.equal(OAuthError.invalidClient('nope').status, 401)
})
