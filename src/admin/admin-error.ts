/** Bad input to an administrative command; the message is one line for the operator. */
export class AdminError extends Error {
  override name = 'AdminError'
}
