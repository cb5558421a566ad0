import t from 'tap'
import { redirectUriMatches, redirectUriProblem } from '../../src/oauth/redirect-uri.js'

t.test('accepts the URIs OAuth 2.1 and RFC 8252 allow', async (t) => {
  for (const uri of [
    'https://app.example.com/cb',
    'https://app.example.com/cb?x=1',
    'http://127.0.0.1:8080/cb',
    'http://[::1]:8080/cb',
    'http://localhost:8080/cb',
    'com.example.app:/oauth2redirect',
  ]) {
    t.equal(redirectUriProblem(uri), undefined, uri)
  }
})

t.test('refuses what must not be registered', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['/cb', /absolute/],
    ['app.example.com/cb', /absolute/],
    ['https://app.example.com/cb#frag', /fragment/],
    ['https://app.example.com/cb#', /fragment/],
    ['http://app.example.com/cb', /https/],
    ['http://127.0.0.2/cb', /https/],
    ['javascript:alert(1)', /javascript/],
    ['data:text/html,hi', /data/],
    ['file:///etc/passwd', /file/],
    ['myapp:/cb', /myapp/],
    ['https://user:pw@app.example.com/cb', /user information/],
  ]
  for (const [uri, reason] of cases) t.match(redirectUriProblem(uri), reason, uri)
})

t.test('matches by exact string only', async (t) => {
  const registered = ['https://app.example.com/cb']
  t.ok(redirectUriMatches(registered, 'https://app.example.com/cb', false))
  for (const other of ['https://app.example.com/cb/', 'https://APP.example.com/cb', 'https://app.example.com/cb?x', 'https://app.example.com:443/cb', 'https://app.example.com/CB']) {
    t.notOk(redirectUriMatches(registered, other, false), other)
    t.notOk(redirectUriMatches(registered, other, true), other)
  }
})

t.test('lets a public client vary only the port of a loopback IP literal (RFC 8252 §7.3)', async (t) => {
  const registered = ['http://127.0.0.1:8080/cb', 'http://[::1]/cb']
  t.ok(redirectUriMatches(registered, 'http://127.0.0.1:53211/cb', true))
  t.ok(redirectUriMatches(registered, 'http://127.0.0.1/cb', true))
  t.ok(redirectUriMatches(registered, 'http://[::1]:9000/cb', true))
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1:53211/cb', false), 'not for confidential clients')
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1:53211/other', true), 'path must match')
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1:53211/cb?x=1', true), 'query must match')
  t.notOk(redirectUriMatches(['http://localhost:8080/cb'], 'http://localhost:9090/cb', true), 'localhost is matched exactly')
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1.evil.com:80/cb', true))
  t.notOk(redirectUriMatches(registered, 'https://127.0.0.1:8080/cb', true))
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1:65536/cb', true), 'a port no URL can carry')
  t.notOk(redirectUriMatches(registered, 'http://127.0.0.1:99999/cb', true), 'a port no URL can carry')
})
