import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose'
import { KeyFileError, keysDirWarnings, listKeys, loadKeyStore } from '../../src/keys/key-store.js'
import { FakeClock } from '../helpers/clock.js'

const jsonFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.json'))

t.test('generates one RS256 key on first start: 0600, kid = RFC 7638 thumbprint, signing from now', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const keys = await loadKeyStore(dir, { clock })
  const files = await jsonFiles(dir)
  t.equal(files.length, 1)
  const path = join(dir, files[0]!)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const file = JSON.parse(await readFile(path, 'utf8'))
  t.equal(file.alg, 'RS256')
  t.equal(file.status, undefined, 'the status is derived, never stored')
  t.equal(file.signs_from, new Date(clock.now()).toISOString())
  t.equal(file.created_at, file.signs_from)
  t.equal(file.superseded_at, null)
  t.equal(file.retires_at, null)
  t.ok(Buffer.from(file.private_jwk.n, 'base64url').length * 8 >= 2048)
  t.equal(file.kid, await calculateJwkThumbprint({ kty: 'RSA', n: file.private_jwk.n, e: file.private_jwk.e }))
  t.equal(files[0], `${file.kid}.json`)
  t.equal(keys.signingKey().kid, file.kid)
  const listed = [{ kid: file.kid, alg: 'RS256', status: 'current', created_at: file.created_at, signs_from: file.signs_from, retires_at: null }]
  t.same(await listKeys(dir, clock.now()), listed)
  t.same(keys.list(), listed)
  t.same(await listKeys(join(dir, 'missing'), clock.now()), [], 'no directory, no keys')
})

t.test('a second start reuses the key', async (t) => {
  const dir = t.testdir()
  const first = await loadKeyStore(dir)
  const second = await loadKeyStore(dir)
  t.equal(second.signingKey().kid, first.signingKey().kid)
  t.equal((await jsonFiles(dir)).length, 1)
})

t.test('instances starting together on an empty directory agree on one key', async (t) => {
  const dir = t.testdir()
  const stores = await Promise.all([loadKeyStore(dir), loadKeyStore(dir), loadKeyStore(dir)])
  t.same(new Set(stores.map((s) => s.signingKey().kid)).size, 1)
  t.equal((await jsonFiles(dir)).length, 1)
})

t.test('the JWKS holds public parts only, and verifies what the signing key signs', async (t) => {
  const keys = await loadKeyStore(t.testdir())
  const jwks = keys.jwks()
  t.equal(jwks.keys.length, 1)
  t.equal(keys.jwks(), jwks, 'the same object while the published set is unchanged')
  const jwk = jwks.keys[0]!
  t.same(Object.keys(jwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
  t.equal(jwk.use, 'sig')
  const { kid, privateKey } = keys.signingKey()
  const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey)
  const { payload } = await jwtVerify(token, await importJWK(jwk as JWK, 'RS256'))
  t.equal(payload.a, 1)
})

t.test('refuses a key directory where no key signs now, instead of generating one', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const first = await loadKeyStore(dir, { clock })
  const firstFile = join(dir, `${first.signingKey().kid}.json`)
  const data = JSON.parse(await readFile(firstFile, 'utf8'))
  await writeFile(firstFile, JSON.stringify({ ...data, retires_at: data.created_at }))
  const err = await loadKeyStore(dir, { clock }).catch((e: unknown) => e)
  t.type(err, KeyFileError, 'no current key is an error, not a silent new key')
  t.match((err as Error).message, /no RS256 key signs now/)
  await writeFile(firstFile, JSON.stringify({ ...data, signs_from: new Date(clock.now() + 1000).toISOString() }))
  await t.rejects(loadKeyStore(dir, { clock }), /no RS256 key signs now/, 'a next key alone does not sign yet')
  t.equal((await jsonFiles(dir)).length, 1, 'nothing generated')
})

t.test('a corrupt key file stops start-up with a clear message and is never overwritten', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['not json', '{nope', /not JSON/],
    ['not an object', '42', /not a JSON object/],
    ['no kid', JSON.stringify({ alg: 'RS256' }), /no kid/],
    ['bad alg', JSON.stringify({ kid: 'k', alg: 'HS256' }), /RS256, ES256, EdDSA/],
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

t.test('refuses a key file whose kid, times or key is wrong', async (t) => {
  const dir = t.testdir()
  const keys = await loadKeyStore(dir)
  const path = join(dir, `${keys.signingKey().kid}.json`)
  const good = JSON.parse(await readFile(path, 'utf8'))
  const variants: Array<[object, RegExp]> = [
    [{ ...good, kid: 'other' }, /thumbprint/],
    [{ ...good, created_at: 'yesterday' }, /created_at/],
    [{ ...good, signs_from: 'soon' }, /signs_from/],
    [{ ...good, signs_from: undefined }, /signs_from/],
    [{ ...good, retires_at: 'later' }, /retires_at/],
    [{ ...good, superseded_at: 7 }, /superseded_at/],
    [{ ...good, private_jwk: { kty: 'EC' } }, /RSA/],
    [{ ...good, private_jwk: { ...good.private_jwk, d: undefined } }, /no d/],
    [{ ...good, private_jwk: { ...good.private_jwk, n: Buffer.alloc(128, 1).toString('base64url') } }, /2048/],
    [{ ...good, alg: 'ES256' }, /EC key/],
  ]
  for (const [variant, message] of variants) {
    await writeFile(path, JSON.stringify(variant))
    await t.rejects(loadKeyStore(dir), message)
  }
})

t.test('reads files written before rotation existed (a status, no times)', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const keys = await loadKeyStore(dir, { clock })
  const kid = keys.signingKey().kid
  const path = join(dir, `${kid}.json`)
  const rest = JSON.parse(await readFile(path, 'utf8'))
  for (const time of ['signs_from', 'superseded_at', 'retires_at']) delete rest[time]
  await writeFile(path, JSON.stringify({ ...rest, status: 'current' }))
  const reread = await loadKeyStore(dir, { clock })
  t.same(reread.list().map((k) => [k.status, k.signs_from, k.retires_at]), [['current', rest.created_at, null]])
  await writeFile(path, JSON.stringify({ ...rest, status: 'retired' }))
  t.same((await listKeys(dir, clock.now())).map((k) => k.status), ['retired'])
})

/** A key file of another algorithm, as a later release (or an operator) would write it. */
async function foreignKeyFile(alg: 'ES256' | 'EdDSA', signsFrom: string) {
  const { privateKey } = alg === 'ES256' ? await generateKeyPair('ES256', { extractable: true }) : await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwk = await exportJWK(privateKey)
  const publicPart = alg === 'ES256' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x }
  const kid = await calculateJwkThumbprint(publicPart as JWK)
  return { kid, jwk, text: JSON.stringify({ kid, alg, created_at: signsFrom, signs_from: signsFrom, superseded_at: null, retires_at: null, private_jwk: jwk }) }
}

t.test('holds keys of several algorithms: one current per algorithm, all published', async (t) => {
  const clock = new FakeClock()
  const since = new Date(clock.now() - 1000).toISOString()
  const es = await foreignKeyFile('ES256', since)
  const ed = await foreignKeyFile('EdDSA', since)
  const dir = t.testdir({ [`${es.kid}.json`]: es.text, [`${ed.kid}.json`]: ed.text })
  await t.rejects(loadKeyStore(dir, { clock }), /no RS256 key signs now/, 'ID tokens need an RS256 key')
  const rsDir = t.testdir()
  const rs = await loadKeyStore(rsDir, { clock })
  await writeFile(join(rsDir, `${es.kid}.json`), es.text)
  await writeFile(join(rsDir, `${ed.kid}.json`), ed.text)
  const keys = await loadKeyStore(rsDir, { clock })
  t.equal(keys.signingKey('RS256').kid, rs.signingKey().kid)
  t.equal(keys.signingKey('ES256').kid, es.kid)
  t.equal(keys.signingKey('EdDSA').kid, ed.kid)
  const published = keys.jwks().keys
  t.same(published.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'RS256'])
  t.same(Object.keys(published.find((k) => k.alg === 'ES256')!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
  t.same(Object.keys(published.find((k) => k.alg === 'EdDSA')!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const key = keys.signingKey(alg)
    const token = await new SignJWT({}).setProtectedHeader({ alg, kid: key.kid }).sign(key.privateKey)
    const jwk = published.find((k) => k.kid === key.kid)!
    await t.resolves(jwtVerify(token, await importJWK(jwk as JWK, alg)), `${alg} verifies against its published key`)
  }
  const noEc = await loadKeyStore(t.testdir(), { clock })
  t.throws(() => noEc.signingKey('ES256'), /no ES256 key signs now/)
})

t.test('a key whose JWK does not import is refused with its name', async (t) => {
  const clock = new FakeClock()
  const since = new Date(clock.now() - 1000).toISOString()
  const es = await foreignKeyFile('ES256', since)
  // A valid shape and thumbprint, but a private scalar that is not a P-256 key.
  const broken = JSON.stringify({ ...JSON.parse(es.text), private_jwk: { ...es.jwk, d: 'AA' } })
  const dir = t.testdir({ [`${es.kid}.json`]: broken })
  // node:crypto takes the scalar; the proof signature then fails to verify with the public half.
  await t.rejects(loadKeyStore(dir, { clock }), new RegExp(`${es.kid}\\.json is not a valid key file \\((private_jwk does not import as ES256|the private key does not match the public key)\\)`))
})

t.test('hostile or stray files: misnamed, not regular, oversized, mismatched halves, padded modulus, old next status', async (t) => {
  const clock = new FakeClock()
  const source = t.testdir()
  const keys = await loadKeyStore(source, { clock })
  const kid = keys.signingKey().kid
  const good = JSON.parse(await readFile(join(source, `${kid}.json`), 'utf8'))
  const otherDir = t.testdir()
  const second = await loadKeyStore(otherDir, { clock })
  const other = JSON.parse(await readFile(join(otherDir, `${second.signingKey().kid}.json`), 'utf8'))
  const cases: Array<[string, (dir: string) => Promise<void>, RegExp]> = [
    ['a copy under another name', (dir) => writeFile(join(dir, 'backup.json'), JSON.stringify(good)), /must be named/],
    ['a FIFO', async (dir) => void execFileSync('mkfifo', [join(dir, `${kid}.json`)]), /not a regular file/],
    ['a symlink', (dir) => symlink(join(source, `${kid}.json`), join(dir, `${kid}.json`)), /not a regular file/],
    ['an oversized file', (dir) => writeFile(join(dir, `${kid}.json`), ' '.repeat(70_000)), /larger than a key file/],
    [
      'halves of two keys',
      (dir) => writeFile(join(dir, `${kid}.json`), JSON.stringify({ ...good, private_jwk: { ...other.private_jwk, n: good.private_jwk.n, e: good.private_jwk.e } })),
      /does not (match|import)/,
    ],
    ['an old next key without signs_from', (dir) => writeFile(join(dir, `${kid}.json`), JSON.stringify({ kid, alg: 'RS256', status: 'next', created_at: good.created_at, private_jwk: good.private_jwk })), /status "next" without signs_from/],
  ]
  for (const [name, make, message] of cases) {
    const dir = t.testdir()
    await make(dir)
    await t.rejects(loadKeyStore(dir, { clock }), message, name)
  }
})

t.test('a 1024-bit modulus padded with zero bytes to look like 2048 bits is refused', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>
  const n = Buffer.concat([Buffer.alloc(128), Buffer.from(jwk.n!, 'base64url')]).toString('base64url')
  const padded = { ...jwk, n }
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n, e: jwk.e! })
  const now = new Date().toISOString()
  const dir = t.testdir({ [`${kid}.json`]: JSON.stringify({ kid, alg: 'RS256', created_at: now, signs_from: now, superseded_at: null, retires_at: null, private_jwk: padded }) })
  await t.rejects(loadKeyStore(dir), /shorter than 2048 bits|does not import/)
})

t.test('a running store ignores a misnamed copy of a key, so retiring the key cannot be undone by a backup', async (t) => {
  const dir = t.testdir()
  const clock = new FakeClock()
  const keys = await loadKeyStore(dir, { clock })
  const kid = keys.signingKey().kid
  const text = await readFile(join(dir, `${kid}.json`), 'utf8')
  await writeFile(join(dir, 'zz-copy.json'), text)
  await keys.reload()
  t.equal(keys.jwks().keys.length, 1, 'the copy is not a second key')
})

t.test('KEYS_DIR open to others is reported', async (t) => {
  const dir = t.testdir()
  await loadKeyStore(dir)
  const { chmod } = await import('node:fs/promises')
  await chmod(dir, 0o700)
  t.same(await keysDirWarnings(dir), [], 'a 0700 directory of 0600 files: nothing to say')
  await chmod(dir, 0o755)
  const warnings = await keysDirWarnings(dir)
  t.equal(warnings.length, 1)
  t.match(warnings[0], /has mode 0755: others can read or plant signing keys; chmod 700/)
})
