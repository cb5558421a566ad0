import t from 'tap'
import { errorReason } from '../../src/error-handler.js'
import { OAuthError } from '../../src/errors.js'
import { TooManyTransactionsError } from '../../src/authorization/transactions.js'

t.test('what an error page tells a person: the error\'s reason, else one by status', async (t) => {
  t.equal(errorReason(new OAuthError('invalid_request', 'unknown client', { reason: 'unknown_client' })), 'unknown_client')
  t.equal(errorReason(new OAuthError('invalid_request', 'forged', { status: 403 })), 'wrong_browser')
  t.equal(errorReason(new TooManyTransactionsError(60)), 'too_many')
  t.equal(errorReason(OAuthError.tooManyFailures('slow down', 60)), 'too_many')
  t.equal(errorReason(new OAuthError('server_error', 'internal server error')), 'server')
  t.equal(errorReason(new OAuthError('temporarily_unavailable', 'down')), 'unavailable')
  t.equal(errorReason(new OAuthError('server_error', 'bad gateway', { status: 502 })), 'server')
  t.equal(errorReason(new OAuthError('invalid_request', 'malformed request')), 'bad_request')
  t.equal(errorReason(new OAuthError('invalid_request', 'malformed request'), 'device_request'), 'device_request', 'a route may name its own')
  t.equal(errorReason(new OAuthError('invalid_request', 'forged', { status: 403 }), 'device_request'), 'wrong_browser', 'only for a plain bad request')
})
