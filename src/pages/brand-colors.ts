/**
 * The colours derived from BRAND_COLOR, so that any brand colour keeps WCAG 2.2 AA contrast
 * (1.4.3: 4.5:1 for text; 1.4.11: 3:1 for focus rings): the text on a brand-coloured button is
 * black or white, whichever contrasts more (one of them always reaches 4.5:1), and the brand
 * colour used as text (links, focus) is darkened on light pages and lightened on dark ones
 * until it reaches 4.5:1 against the card behind it.
 */

type Rgb = readonly [number, number, number]

/** The card backgrounds of views/latchkey.css, light and dark. */
export const LIGHT_SURFACE = '#ffffff'
export const DARK_SURFACE = '#1c2128'

const AA_TEXT = 4.5

function parseHex(hex: string): Rgb {
  const n = Number.parseInt(hex.slice(1), 16)
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
}

function toHex(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`
}

/** WCAG 2.2 relative luminance. */
export function luminance(hex: string): number {
  const [r, g, b] = parseHex(hex).map((c) => {
    const s = c / 255
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  }) as [number, number, number]
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

/** WCAG 2.2 contrast ratio, from 1 to 21. */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}

function mix(color: string, toward: string, amount: number): string {
  const from = parseHex(color)
  const to = parseHex(toward)
  return toHex(from.map((c, i) => c + ((to[i] as number) - c) * amount) as unknown as Rgb)
}

/** The colour, moved toward `toward` in small steps until it contrasts AA with `surface`. */
function readableOn(color: string, surface: string, toward: string): string {
  for (let step = 0; step <= 20; step++) {
    const candidate = mix(color, toward, step / 20)
    if (contrast(candidate, surface) >= AA_TEXT) return candidate
  }
  return toward
}

export interface BrandColors {
  /** Button background. */
  brand: string
  /** Text on a brand-coloured button. */
  onBrand: string
  /** The brand colour as text and focus ring on the light card. */
  accentLight: string
  /** The same on the dark card. */
  accentDark: string
}

export function brandColors(color: string): BrandColors {
  const onBrand = contrast(color, '#ffffff') >= contrast(color, '#000000') ? '#ffffff' : '#000000'
  return {
    brand: color,
    onBrand,
    accentLight: readableOn(color, LIGHT_SURFACE, '#000000'),
    accentDark: readableOn(color, DARK_SURFACE, '#ffffff'),
  }
}
