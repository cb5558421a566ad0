import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig, MAX_LOGO_BYTES } from '../../src/config.js'

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16])
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([4, 0, 0, 0]), Buffer.from('WEBPVP8 ')])
const SVG = Buffer.from('<?xml version="1.0"?>\n<!-- logo -->\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>')

const dir = mkdtempSync(join(tmpdir(), 'latchkey-brand-'))
function file(name: string, data: Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, data)
  return path
}

t.test('BRAND_NAME, BRAND_COLOR and BRAND_LOGO have defaults', async (t) => {
  t.same(loadConfig({}).brand, { name: 'latchkey', color: '#3451b2', logo: undefined })
  t.same(loadConfig({ BRAND_NAME: '', BRAND_COLOR: '', BRAND_LOGO: '' }).brand, { name: 'latchkey', color: '#3451b2', logo: undefined }, 'empty is unset')
})

t.test('reads the brand', async (t) => {
  const brand = loadConfig({ BRAND_NAME: '  Acme Login ', BRAND_COLOR: '#0A7E3B' }).brand
  t.equal(brand.name, 'Acme Login', 'trimmed')
  t.equal(brand.color, '#0a7e3b', 'lowercased')
  t.equal(loadConfig({ BRAND_COLOR: '#F0A' }).brand.color, '#ff00aa', 'three digits expand')
})

t.test('reads a logo of each allowed type, with its content type', async (t) => {
  const cases: Array<[string, Buffer, string]> = [
    ['logo.png', PNG, 'image/png'],
    ['logo.JPG', JPEG, 'image/jpeg'],
    ['logo.jpeg', JPEG, 'image/jpeg'],
    ['logo.webp', WEBP, 'image/webp'],
    ['logo.svg', SVG, 'image/svg+xml'],
    ['bare.svg', Buffer.from('<svg viewBox="0 0 1 1"></svg>'), 'image/svg+xml'],
  ]
  for (const [name, data, type] of cases) {
    const logo = loadConfig({ BRAND_LOGO: file(name, data) }).brand.logo
    t.equal(logo?.contentType, type, name)
    t.same(logo?.data, data, `${name}: the bytes are read at start`)
  }
})

t.test('a bad brand value is a configuration error naming its variable', async (t) => {
  const bad: Array<[Record<string, string>, string, RegExp]> = [
    [{ BRAND_NAME: ' ' }, 'BRAND_NAME', /one line of 1 to 60/],
    [{ BRAND_NAME: 'x'.repeat(61) }, 'BRAND_NAME', /1 to 60/],
    [{ BRAND_NAME: 'two\nlines' }, 'BRAND_NAME', /one line/],
    [{ BRAND_COLOR: 'blue' }, 'BRAND_COLOR', /hex colour/],
    [{ BRAND_COLOR: '#12345' }, 'BRAND_COLOR', /hex colour/],
    [{ BRAND_COLOR: '#12345g' }, 'BRAND_COLOR', /hex colour/],
    [{ BRAND_COLOR: 'red;}body{x' }, 'BRAND_COLOR', /hex colour/],
    [{ BRAND_LOGO: file('logo.gif', Buffer.from('GIF89a')) }, 'BRAND_LOGO', /\.png, \.svg, \.jpg, \.jpeg or \.webp/],
    [{ BRAND_LOGO: file('logo', PNG) }, 'BRAND_LOGO', /\.png/],
    [{ BRAND_LOGO: join(dir, 'missing.png') }, 'BRAND_LOGO', /readable file/],
    [{ BRAND_LOGO: file('empty.png', Buffer.alloc(0)) }, 'BRAND_LOGO', /1 to 262144 bytes/],
    [{ BRAND_LOGO: file('huge.png', Buffer.concat([PNG, Buffer.alloc(MAX_LOGO_BYTES)])) }, 'BRAND_LOGO', /1 to 262144 bytes/],
    [{ BRAND_LOGO: file('renamed.png', JPEG) }, 'BRAND_LOGO', /is not a png image/],
    [{ BRAND_LOGO: file('page.svg', Buffer.from('<html><script>alert(1)</script></html>')) }, 'BRAND_LOGO', /is not a svg image/],
    [{ BRAND_LOGO: file('fake.webp', Buffer.from('RIFF0000WAVE')) }, 'BRAND_LOGO', /is not a webp image/],
    [{ BRAND_LOGO: file('fake.jpg', PNG) }, 'BRAND_LOGO', /is not a jpg image/],
  ]
  for (const [env, variable, expected] of bad) {
    const error = (() => {
      try {
        loadConfig(env)
      } catch (e) {
        return e
      }
      return undefined
    })()
    t.type(error, ConfigError, `${JSON.stringify(env)}: a ConfigError`)
    t.match((error as Error).message, new RegExp(`^${variable} `), `${JSON.stringify(env)}: names ${variable}`)
    t.match((error as Error).message, expected, `${JSON.stringify(env)}: says what is expected`)
  }
})

t.test('a folder is not a logo', async (t) => {
  const named = join(dir, 'folder.png')
  mkdirSync(named)
  t.throws(() => loadConfig({ BRAND_LOGO: named }), /BRAND_LOGO must name a readable file/)
})
