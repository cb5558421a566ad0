import { fileURLToPath } from 'node:url'
import { Eta } from 'eta'
import type { FastifyReply } from 'fastify'

// views/ sits beside src/ and dist/, so this resolves from either.
const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url))

export type View = 'login' | 'consent' | 'error' | 'logout' | 'signed-out'

export interface Pages {
  render(reply: FastifyReply, view: View, data: Record<string, unknown>, status?: number): FastifyReply
}

/**
 * Headers for every page and redirect of the authorization endpoint. No form-action (it
 * would apply to the 303 after a form post) and no upgrade-insecure-requests on an http issuer.
 * Cache-Control: no-store comes from the app's onSend hook, as for every response.
 */
export function setPageHeaders(reply: FastifyReply): void {
  reply
    // RFC 9700 §4.16: no framing (clickjacking); §4.2.4: no referrer leakage.
    .header('content-security-policy', "default-src 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
}

export function createPages(viewsDir = VIEWS_DIR): Pages {
  const eta = new Eta({ views: viewsDir, autoEscape: true, cache: true })
  return {
    render(reply, view, data, status = 200) {
      setPageHeaders(reply)
      const html = eta.render(`./${view}`, data)
      return reply.code(status).type('text/html; charset=utf-8').send(html)
    },
  }
}
