import t from 'tap'
import { brandColors, contrast, DARK_SURFACE, LIGHT_SURFACE, luminance } from '../../src/pages/brand-colors.js'
import { DEFAULT_BRAND_COLOR } from '../../src/config.js'

t.test('WCAG contrast ratios', async (t) => {
  t.equal(luminance('#000000'), 0)
  t.equal(luminance('#ffffff'), 1)
  t.equal(contrast('#000000', '#ffffff'), 21)
  t.equal(contrast('#ffffff', '#ffffff'), 1)
  t.equal(Math.round(contrast('#767676', '#ffffff') * 100) / 100, 4.54, 'the known AA grey')
})

t.test('any brand colour keeps AA contrast: button text, and the accent on light and dark cards', async (t) => {
  const samples = [DEFAULT_BRAND_COLOR, '#000000', '#ffffff', '#ffcc00', '#777777', '#00ff00', '#0000ff', '#ff0000', '#1a1a2e', '#e0e0e0', '#808080']
  for (let i = 0; i < 64; i++) samples.push(`#${((i * 2654435761) >>> 8).toString(16).padStart(6, '0').slice(-6)}`)
  for (const color of samples) {
    const c = brandColors(color)
    t.equal(c.brand, color)
    t.ok(contrast(c.onBrand, color) >= 4.5, `${color}: text on the button ${c.onBrand}`)
    t.ok(contrast(c.accentLight, LIGHT_SURFACE) >= 4.5, `${color}: accent ${c.accentLight} on the light card`)
    t.ok(contrast(c.accentDark, DARK_SURFACE) >= 4.5, `${color}: accent ${c.accentDark} on the dark card`)
  }
  t.same(brandColors('#ffffff'), { brand: '#ffffff', onBrand: '#000000', accentLight: '#737373', accentDark: '#ffffff' }, 'white: darkened for light pages')
  t.equal(brandColors(DEFAULT_BRAND_COLOR).onBrand, '#ffffff')
  t.equal(brandColors(DEFAULT_BRAND_COLOR).accentLight, DEFAULT_BRAND_COLOR, 'already readable: unchanged')
})
