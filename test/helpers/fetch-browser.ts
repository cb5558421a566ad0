/**
 * A minimal browser over the global fetch, for a listening server: one cookie jar (no domain or
 * path matching: tests talk to one origin), and redirects returned, never followed, so a test
 * sees each 302/303 and stops at the one that leaves for the client.
 */
export class FetchBrowser {
  readonly cookies = new Map<string, string>()

  constructor(private readonly origin: string) {}

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url, this.origin)
    if (target.origin !== this.origin) throw new Error(`the browser only talks to ${this.origin}, not ${target.origin}`)
    const headers = new Headers(init.headers)
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie) headers.set('cookie', cookie)
    const res = await fetch(target, { ...init, headers, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) this.store(line)
    return res
  }

  get(url: string | URL): Promise<Response> {
    return this.request(url)
  }

  post(url: string | URL, form: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    })
  }

  /**
   * Follows same-origin redirects (as a browser would, with GET) and returns the first response
   * that is not one: a page, or a redirect to another origin, such as a client's redirect_uri.
   */
  async follow(res: Response, limit = 10): Promise<Response> {
    for (let hops = 0; hops < limit; hops++) {
      const location = isRedirect(res) ? res.headers.get('location') : null
      if (location === null) return res
      const next = new URL(location, this.origin)
      if (next.origin !== this.origin) return res
      res = await this.get(next)
    }
    throw new Error(`more than ${limit} redirects`)
  }

  private store(setCookie: string): void {
    const [pair = '', ...attributes] = setCookie.split(';')
    const eq = pair.indexOf('=')
    if (eq <= 0) return
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    const expired = attributes.some((attribute) => {
      const [key = '', val = ''] = attribute.split('=').map((s) => s.trim())
      if (/^max-age$/i.test(key)) return Number(val) <= 0
      if (/^expires$/i.test(key)) return Date.parse(val) <= Date.now()
      return false
    })
    if (expired || value === '') this.cookies.delete(name)
    else this.cookies.set(name, value)
  }
}

export function isRedirect(res: Response): boolean {
  return res.status >= 300 && res.status < 400 && res.headers.has('location')
}
