import { OAuthError } from '../errors.js'

/**
 * Request parameters from a query string, a form body or a JSON object. OAuth 2.1 §3.1:
 * empty parameters count as absent, unknown ones are ignored, none may be repeated.
 * fastify's query-string parsers (and parseJsonParams) turn a repeated key into an array,
 * which is how a duplicate is seen here.
 */
export class Params {
  private readonly values = new Map<string, string>()
  private readonly repeated = new Set<string>()

  constructor(input: unknown) {
    if (input === undefined || input === null) return
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw new OAuthError('invalid_request', 'the request body must be a form or a JSON object')
    }
    for (const [name, raw] of Object.entries(input as Record<string, unknown>)) {
      const list = Array.isArray(raw) ? raw : [raw]
      const present: string[] = []
      for (const value of list) {
        if (typeof value !== 'string') throw new OAuthError('invalid_request', `parameter "${name}" must be a string`)
        // No OAuth or OIDC parameter may hold a NUL, and PostgreSQL text cannot store one.
        if (value.includes('\u0000')) throw new OAuthError('invalid_request', `parameter "${name}" contains a NUL character`)
        if (value !== '') present.push(value)
      }
      if (present.length > 1) this.repeated.add(name)
      if (present.length > 0) this.values.set(name, present[0] as string)
    }
  }

  get(name: string): string | undefined {
    return this.repeated.has(name) ? undefined : this.values.get(name)
  }

  isRepeated(name: string): boolean {
    return this.repeated.has(name)
  }

  /** Throws for the first repeated parameter; `resource` is invalid_target (RFC 8707 §2). */
  rejectRepeated(): void {
    if (this.repeated.has('resource')) throw new OAuthError('invalid_target', 'only one resource may be requested')
    for (const name of this.repeated) throw new OAuthError('invalid_request', `parameter ${quotedName(name)} was sent more than once`)
  }
}

/**
 * A parameter name as an error message may quote it: a short protocol-style name, else nothing
 * (the name is the caller's text, and the message may be shown on latchkey's own pages).
 */
function quotedName(name: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(name) ? `"${name}"` : '(a name latchkey does not use)'
}
