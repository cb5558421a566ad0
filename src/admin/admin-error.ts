/**
 * What went wrong, for the caller to act on: the API answers 404, 400 or 409; the CLI prints
 * the message as one line and exits 1.
 */
export type AdminErrorKind = 'not_found' | 'invalid' | 'conflict'

/** Bad input to an administrative command; the message is one line for the operator. */
export class AdminError extends Error {
  override name = 'AdminError'
  readonly kind: AdminErrorKind

  constructor(message: string, kind: AdminErrorKind = 'invalid') {
    super(message)
    this.kind = kind
  }
}

/** C0 controls and DEL: PostgreSQL refuses NUL in text (a 500), and none belongs in a name. */
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * The one guard every administrative string input passes (names, ids in paths, emails, URIs,
 * descriptions, search, cursors; not passwords, which are only hashed): a control character is
 * refused as invalid input, named by its field, before anything is looked up or stored.
 */
export function refuseControlCharacters(fields: Readonly<Record<string, unknown>>): void {
  for (const [field, value] of Object.entries(fields)) {
    const values = Array.isArray(value) ? (value as unknown[]) : [value]
    if (values.some((v) => typeof v === 'string' && CONTROL.test(v))) throw new AdminError(`${field} must not contain control characters`)
  }
}
