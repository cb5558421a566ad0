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
