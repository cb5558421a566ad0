import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'

/** Hidden inputs of the form posting to `action` (or of the first form), by name. */
export function hiddenInputs(html: string, action?: string): Record<string, string> {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)]
  const form = action === undefined ? forms[0] : forms.find((f) => f[1]?.includes(`action="${action}"`))
  const fields: Record<string, string> = {}
  if (!form) return fields
  for (const input of (form[2] ?? '').matchAll(/<input\b[^>]*>/g)) {
    const tag = input[0]
    if (!/type="hidden"/.test(tag)) continue
    const name = /name="([^"]*)"/.exec(tag)?.[1]
    const value = /value="([^"]*)"/.exec(tag)?.[1] ?? ''
    if (name !== undefined) fields[name] = unescapeHtml(value)
  }
  return fields
}

function unescapeHtml(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

/** An `app.inject` wrapper that keeps cookies like a browser (one jar per instance). */
export class Browser {
  readonly cookies = new Map<string, string>()

  constructor(private readonly app: FastifyInstance) {}

  async request(options: InjectOptions): Promise<LightMyRequestResponse> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const headers = { ...(options.headers ?? {}), ...(cookie ? { cookie } : {}) }
    const res = await this.app.inject({ ...options, headers })
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number }>) {
      if (c.maxAge === 0 || c.value === '') this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
    return res
  }

  get(url: string): Promise<LightMyRequestResponse> {
    return this.request({ method: 'GET', url })
  }

  post(url: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    })
  }
}
