import { randomBytes } from 'node:crypto'
import { readFile, stat, writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { keySecretBox, openWith, sealWith } from '../../src/keys/secret-box.js'
import { KeyFileError } from '../../src/keys/key-file.js'
import { keysDirWarnings } from '../../src/keys/key-store.js'
import { loadOrCreateTotpKey, TOTP_KEY_FILE, totpSecretBox } from '../../src/keys/totp-key.js'

t.test('sealing: a round trip; the stored value reveals nothing, and a changed one does not open', async (t) => {
  const key = randomBytes(32)
  const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
  const sealed = sealWith(key, secret, 'user-1')
  t.match(sealed, /^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/)
  t.notMatch(sealed, secret)
  t.notMatch(Buffer.from(sealed.split(':')[2]!, 'base64url').toString('latin1'), secret)
  t.equal(openWith(key, sealed, 'user-1'), secret)
  t.not(sealWith(key, secret, 'user-1'), sealed, 'a fresh IV each time')
  t.throws(() => openWith(randomBytes(32), sealed, 'user-1'), /does not open/, 'another key')
  t.throws(() => openWith(key, sealed, 'user-2'), /does not open/, "another user's row")
  const [v, iv, body] = sealed.split(':') as [string, string, string]
  const flipped = Buffer.from(body, 'base64url')
  flipped[0]! ^= 1
  t.throws(() => openWith(key, `${v}:${iv}:${flipped.toString('base64url')}`, 'user-1'), /does not open/, 'altered')
  for (const bad of ['', secret, 'v2:a:b', `v1:${iv}`, `v1:${iv}:${body}:x`, 'v1:AAAA:AAAA']) t.throws(() => openWith(key, bad, 'user-1'), /sealed secret|not a sealed/)
  const box = keySecretBox(key)
  t.equal(await box.open(await box.seal(secret, 'u'), 'u'), secret)
})

t.test('KEYS_DIR/totp.key: made once with mode 0600, then read; instances creating it together agree', async (t) => {
  const dir = join(t.testdir(), 'keys')
  const keys = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateTotpKey(dir)))
  t.equal(keys[0]!.length, 32)
  for (const key of keys) t.ok(key.equals(keys[0]!), 'every one uses the key written')
  const path = join(dir, TOTP_KEY_FILE)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  t.equal((await readFile(path, 'utf8')).trim(), keys[0]!.toString('base64url'))
  t.same((await readdir(dir)).filter((name) => name !== '.policy.json'), [TOTP_KEY_FILE], 'no temporary file or lock left')
  t.ok((await loadOrCreateTotpKey(dir)).equals(keys[0]!), 'read back')
  t.same(await keysDirWarnings(dir), [])

  // A box made before the key file existed and one made after seal and open alike.
  const sealed = await totpSecretBox(dir).seal('SECRET', 'u')
  t.equal(await totpSecretBox(dir).open(sealed, 'u'), 'SECRET')
})

t.test('a damaged totp.key is refused with its name, never replaced', async (t) => {
  const dir = t.testdir({ [TOTP_KEY_FILE]: 'not a key\n' })
  await t.rejects(loadOrCreateTotpKey(dir), KeyFileError)
  await t.rejects(loadOrCreateTotpKey(dir), /totp\.key is not a 32-byte key/)
  t.equal(await readFile(join(dir, TOTP_KEY_FILE), 'utf8'), 'not a key\n')
  await writeFile(join(dir, TOTP_KEY_FILE), `${randomBytes(16).toString('base64url')}\n`)
  await t.rejects(loadOrCreateTotpKey(dir), /not a 32-byte key/, 'too short')
  // A box retries a failed load: once the file is right, it works.
  const box = totpSecretBox(dir)
  await t.rejects(box.seal('x', 'u'))
  await writeFile(join(dir, TOTP_KEY_FILE), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o644 })
  t.equal(await box.open(await box.seal('x', 'u'), 'u'), 'x')
  t.match((await keysDirWarnings(dir)).filter((w) => w.includes(`/${TOTP_KEY_FILE} has`)), [/totp\.key has mode 0644/])
})
