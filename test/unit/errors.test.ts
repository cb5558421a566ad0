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

t.test('RFC 6750 errors: no credentials has no code, insufficient_scope names its scope', async (t) => {
  const none = OAuthError.noCredentials('bearer token required')
  t.equal(none.code, undefined)
  t.equal(none.status, 401)
  t.equal(none.scope, undefined)
  const scope = OAuthError.insufficientScope('openid')
  t.match(scope, { code: 'insufficient_scope', status: 403, scope: 'openid', description: 'token lacks scope: openid' })
  t.equal(new OAuthError('invalid_token', 'expired').status, 401)
  t.match(OAuthError.unsupportedContentType(), { code: 'invalid_request', status: 415, description: 'unsupported content type' })
})

t.test('a refusal by a limit on failures is a 429 invalid_request carrying Retry-After', async (t) => {
  const error = OAuthError.tooManyFailures('too many failed sign-ins from this address; try again later', 120)
  t.match(error, { code: 'invalid_request', status: 429, retryAfterSeconds: 120 })
  t.equal(new OAuthError('invalid_request', 'x').retryAfterSeconds, undefined)
})
