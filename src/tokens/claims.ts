/** A JWT `aud` read as a list: a non-empty array of strings. */
export function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')
}
