/**
 * Where security events go: in the server, a request's logger (pino's `warn(object, message)`
 * shape); in tests, anything that collects them. Never given secrets, passwords, codes or tokens.
 */
export interface SecurityLog {
  warn(details: Record<string, unknown>, message: string): void
}
