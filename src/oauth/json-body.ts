import { OAuthError } from '../errors.js'

/** Parameters as a form parser gives them: a key sent more than once maps to an array. */
export type BodyParams = Record<string, string | string[]>

// After JSON.parse has accepted the text and every value is a string, the text is a flat
// object of string members, so a member is: "key" : "value" followed by , or }.
const OPEN = /[ \t\n\r]*\{[ \t\n\r]*/y
const MEMBER = /"((?:[^"\\]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*"(?:[^"\\]|\\.)*"[ \t\n\r]*([,}])[ \t\n\r]*/y

/** The keys of a flat JSON object in order, repeats included (JSON.parse keeps only the last). */
function memberKeys(text: string): string[] {
  OPEN.lastIndex = 0
  if (!OPEN.test(text)) return []
  const keys: string[] = []
  let at = OPEN.lastIndex
  if (text[at] === '}') return keys
  for (;;) {
    MEMBER.lastIndex = at
    const match = MEMBER.exec(text)
    if (!match) throw new OAuthError('invalid_request', 'the JSON body is malformed')
    keys.push(JSON.parse(`"${match[1] as string}"`) as string)
    at = MEMBER.lastIndex
    if (match[2] === '}') return keys
  }
}

/**
 * A JSON object body carrying token-endpoint parameters. Every value must be a string, and a
 * key sent twice is kept as a repeat (as in a form), so the duplicate rule applies to JSON too.
 */
export function parseJsonParams(text: string): BodyParams {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new OAuthError('invalid_request', 'the JSON body is malformed')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new OAuthError('invalid_request', 'the JSON body must be an object')
  }
  const values = parsed as Record<string, unknown>
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string') throw new OAuthError('invalid_request', `parameter "${name}" must be a string`)
  }
  const params: BodyParams = Object.create(null) as BodyParams
  const counts = new Map<string, number>()
  for (const key of memberKeys(text)) counts.set(key, (counts.get(key) ?? 0) + 1)
  for (const [name, value] of Object.entries(values as Record<string, string>)) {
    const count = counts.get(name) ?? 1
    // The repeated values themselves do not matter: a repeat is refused whatever it holds.
    params[name] = count > 1 ? Array.from({ length: count }, () => value) : value
  }
  return params
}
