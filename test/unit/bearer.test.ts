import t from 'tap'
import { OAuthError } from '../../src/errors.js'
import { bearerChallenge, bearerToken, isBearerRefusal } from '../../src/oauth/bearer.js'

const read = (authorization: string | undefined, formTokens: string[] = []) => bearerToken({ authorization, formTokens })

t.test('reads one token from the header or the form body (RFC 6750 §2.1, §2.2)', async (t) => {
  t.equal(read('Bearer abc.def-_~+/='), 'abc.def-_~+/=')
  t.equal(read('bearer abc'), 'abc')
  t.equal(read(undefined, ['', 'abc']), 'abc', 'an empty form value counts as absent')
})

t.test('no credentials at all: an OAuthError without a code, 401', async (t) => {
  for (const [authorization, form] of [[undefined, []], ['Basic abc', []], ['Bearertoken abc', []], [undefined, ['']]] as const) {
    const error = t.throws(() => read(authorization, [...form])) as OAuthError<undefined>
    t.ok(error instanceof OAuthError)
    t.equal(error.code, undefined)
    t.equal(error.status, 401)
    t.equal(error.description, 'bearer token required')
  }
})

t.test('a malformed request is invalid_request, 400', async (t) => {
  const cases: Array<[string | undefined, string[], RegExp]> = [
    ['Bearer', [], /missing/],
    ['Bearer a b', [], /only one/],
    ['Bearer a"b', [], /invalid characters/],
    ['Bearer abc', ['abc'], /more than one method/],
    [undefined, ['a', 'b'], /more than once/],
    [undefined, ['a b'], /invalid characters/],
  ]
  for (const [authorization, form, description] of cases) {
    t.throws(() => read(authorization, form), { name: 'OAuthError', code: 'invalid_request', status: 400, message: description })
  }
})

t.test('the challenge carries the error attributes only when there is an error code (RFC 6750 §3)', async (t) => {
  t.equal(bearerChallenge(OAuthError.noCredentials('bearer token required'), 'latchkey'), 'Bearer realm="latchkey"')
  t.equal(
    bearerChallenge(new OAuthError('invalid_token', 'access token has been revoked'), 'latchkey'),
    'Bearer realm="latchkey", error="invalid_token", error_description="access token has been revoked"',
  )
  t.equal(
    bearerChallenge(OAuthError.insufficientScope('openid'), 'latchkey'),
    'Bearer realm="latchkey", error="insufficient_scope", error_description="token lacks scope: openid", scope="openid"',
  )
  t.equal(bearerChallenge(OAuthError.insufficientScope('a"b\\c\u00e9'), 're"alm'), 'Bearer realm="realm", error="insufficient_scope", error_description="token lacks scope: a\'bc", scope="abc"', 'nothing breaks out of a quoted string')
})

t.test('only RFC 6750 §3.1 refusals get a challenge', async (t) => {
  t.equal(isBearerRefusal(OAuthError.noCredentials('x')), true)
  t.equal(isBearerRefusal(new OAuthError('invalid_request', 'x')), true)
  t.equal(isBearerRefusal(new OAuthError('invalid_token', 'x')), true)
  t.equal(isBearerRefusal(OAuthError.insufficientScope('openid')), true)
  t.equal(isBearerRefusal(new OAuthError('invalid_request', 'request body is too large', { status: 413 })), false)
  t.equal(isBearerRefusal(new OAuthError('invalid_request', 'method not allowed', { status: 405 })), false)
  t.equal(isBearerRefusal(new OAuthError('server_error', 'x')), false)
  t.equal(isBearerRefusal(OAuthError.invalidClient('x')), false)
})
