/** The one mapping between what the dialects return and domain values. */

export function fromDbTime(value: number | string | bigint): number {
  return Number(value)
}

export function toDbBool(value: boolean): number {
  return value ? 1 : 0
}

export function fromDbBool(value: number | boolean | string): boolean {
  return value === 1 || value === true || value === '1'
}

export function toDbList(values: readonly string[]): string {
  return JSON.stringify(values)
}

export function fromDbList(value: string): string[] {
  const parsed: unknown = JSON.parse(value)
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
    throw new Error('stored list is not an array of strings')
  }
  return parsed
}
