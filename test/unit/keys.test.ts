import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { calculateJwkThumbprint, importJWK, jwtVerify, SignJWT } from 'jose'
import { KeyFileError, listKeys, loadKeyStore } from '../../src/keys/key-store.js'

t.test('generates one RS256 key on first start: 0600, kid = RFC 7638 thumbprint, status current', async (t) => {
  const dir = t.testdir()
  const keys = await loadKeyStore(dir)
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'))
  t.equal(files.length, 1)
  const path = join(dir, files[0]!)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const file = JSON.parse(await readFile(path, 'utf8'))
  t.equal(file.status, 'current')
  t.equal(file.alg, 'RS256')
  t.ok(Buffer.from(file.private_jwk.n, 'base64url').length * 8 >= 2048)
  t.equal(file.kid, await calculateJwkThumbprint({ kty: 'RSA', n: file.private_jwk.n, e: file.private_jwk.e }))
  t.equal(files[0], `${file.kid}.json`)
  t.equal(keys.signingKey().kid, file.kid)
  t.same(await listKeys(dir), [{ kid: file.kid, alg: 'RS256', status: 'current', created_at: file.created_at }])
})

t.test('a second start reuses the key', async (t) => {
  const dir = t.testdir()
  const first = await loadKeyStore(dir)
  const second = await loadKeyStore(dir)
  t.equal(second.signingKey().kid, first.signingKey().kid)
  t.equal((await readdir(dir)).filter((f) => f.endsWith('.json')).length, 1)
})

t.test('instances starting together on an empty directory agree on one key', async (t) => {
  const dir = t.testdir()
  const stores = await Promise.all([loadKeyStore(dir), loadKeyStore(dir), loadKeyStore(dir)])
  t.same(new Set(stores.map((s) => s.signingKey().kid)).size, 1)
  t.equal((await readdir(dir)).filter((f) => f.endsWith('.json')).length, 1)
})

t.test('the JWKS holds public parts only, and verifies what the signing key signs', async (t) => {
  const keys = await loadKeyStore(t.testdir())
  const jwks = keys.jwks()
  t.equal(jwks.keys.length, 1)
  const jwk = jwks.keys[0]!
  t.same(Object.keys(jwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
  t.equal(jwk.use, 'sig')
  const { kid, privateKey } = keys.signingKey()
  const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey)
  const { payload } = await jwtVerify(token, await importJWK(jwk, 'RS256'))
  t.equal(payload.a, 1)
})

t.test('refuses a key directory with no current key instead of generating one', async (t) => {
  const dir = t.testdir()
  const first = await loadKeyStore(dir)
  const firstFile = join(dir, `${first.signingKey().kid}.json`)
  const data = JSON.parse(await readFile(firstFile, 'utf8'))
  await writeFile(firstFile, JSON.stringify({ ...data, status: 'previous' }))
  const err = await loadKeyStore(dir).catch((e: unknown) => e)
  t.type(err, KeyFileError, 'no current key is an error, not a silent new key')
  await writeFile(firstFile, JSON.stringify({ ...data, status: 'retired' }))
  await t.rejects(loadKeyStore(dir), /no key has status "current"/)
  t.equal((await readdir(dir)).filter((f) => f.endsWith('.json')).length, 1, 'nothing generated')
})

t.test('a corrupt key file stops start-up with a clear message and is never overwritten', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['not json', '{nope', /not JSON/],
    ['not an object', '42', /not a JSON object/],
    ['no kid', JSON.stringify({ alg: 'RS256' }), /no kid/],
    ['bad alg', JSON.stringify({ kid: 'k', alg: 'HS256' }), /RS256/],
  ]
  for (const [name, text, message] of cases) {
    const dir = t.testdir({ 'broken.json': text })
    const error = await loadKeyStore(dir).catch((e: unknown) => e)
    t.type(error, KeyFileError, name)
    t.match((error as Error).message, message, name)
    t.match((error as Error).message, /broken\.json/, 'names the file')
    t.equal(await readFile(join(dir, 'broken.json'), 'utf8'), text, 'left untouched')
    t.same((await readdir(dir)).sort(), ['broken.json'], 'no key generated beside it')
  }
})

t.test('refuses a key file whose kid, status, date or key is wrong', async (t) => {
  const dir = t.testdir()
  const keys = await loadKeyStore(dir)
  const path = join(dir, `${keys.signingKey().kid}.json`)
  const good = JSON.parse(await readFile(path, 'utf8'))
  const variants: Array<[object, RegExp]> = [
    [{ ...good, kid: 'other' }, /thumbprint/],
    [{ ...good, status: 'active' }, /status/],
    [{ ...good, created_at: 'yesterday' }, /created_at/],
    [{ ...good, private_jwk: { kty: 'EC' } }, /RSA/],
    [{ ...good, private_jwk: { ...good.private_jwk, d: undefined } }, /no d/],
    [{ ...good, private_jwk: { ...good.private_jwk, n: Buffer.alloc(128, 1).toString('base64url') } }, /2048/],
  ]
  for (const [variant, message] of variants) {
    await writeFile(path, JSON.stringify(variant))
    await t.rejects(loadKeyStore(dir), message)
  }
})
