import t from 'tap'
import { parseJsonParams } from '../../src/oauth/json-body.js'
import { Params } from '../../src/oauth/params.js'

t.test('a flat object of strings becomes parameters', async (t) => {
  t.same({ ...parseJsonParams('{"grant_type":"refresh_token","scope":"a b"}') }, { grant_type: 'refresh_token', scope: 'a b' })
  t.same({ ...parseJsonParams(' \n{ }\t') }, {})
  t.same({ ...parseJsonParams('{ "a" : "x\\"}, \\"b\\":\\"y" , "c":"\\u0041" }') }, { a: 'x"}, "b":"y', c: 'A' })
})

t.test('a repeated key is kept as a repeat, so Params refuses it like a repeated form field', async (t) => {
  const body = parseJsonParams('{"code":"one","client_id":"c","code":"two"}')
  t.same(body.code, ['two', 'two'])
  const params = new Params(body)
  t.equal(params.isRepeated('code'), true)
  t.throws(() => params.rejectRepeated(), { code: 'invalid_request', message: /'code' was sent more than once/ })
  // Keys that differ only in their escapes are the same key.
  t.equal(new Params(parseJsonParams('{"resource":"https://a","reso\\u0075rce":"https://b"}')).isRepeated('resource'), true)
  t.throws(() => new Params(parseJsonParams('{"resource":"https://a","resource":"https://a"}')).rejectRepeated(), { code: 'invalid_target' })
})

t.test('malformed JSON, non-objects and non-string values are invalid_request', async (t) => {
  for (const text of ['{', '', 'nul', '{"a":"b",}', "{'a':'b'}"]) {
    t.throws(() => parseJsonParams(text), { code: 'invalid_request', message: /malformed/ }, JSON.stringify(text))
  }
  for (const text of ['null', '[]', '"s"', '1', '["a"]']) {
    t.throws(() => parseJsonParams(text), { code: 'invalid_request', message: /must be an object/ }, text)
  }
  for (const text of ['{"code":1}', '{"code":null}', '{"code":["a"]}', '{"code":{"a":"b"}}', '{"a":"b","code":true}']) {
    t.throws(() => parseJsonParams(text), { code: 'invalid_request', message: /'code' must be a string/ }, text)
  }
})

t.test('__proto__ is an ordinary key, not a prototype change', async (t) => {
  const body = parseJsonParams('{"__proto__":"x","a":"b"}')
  t.equal(Object.getPrototypeOf(body), null)
  t.equal(new Params(body).get('__proto__'), 'x')
  t.equal(({} as Record<string, unknown>).a, undefined)
})
