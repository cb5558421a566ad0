import type { FastifyReply, FastifyRequest } from 'fastify'
import { redirectOrigins, type Client } from '../storage/clients.js'

/**
 * The endpoints a browser app calls itself (/token, /revoke): the actual POST gets CORS
 * headers only for an origin of the calling client's redirect URIs. The preflight, which
 * names no client, is answered in app.ts for any origin some client registered.
 */
export const BROWSER_CLIENT_ENDPOINTS: ReadonlySet<string> = new Set(['/token', '/revoke'])

export function allowClientOrigin(request: FastifyRequest, reply: FastifyReply, client: Client): void {
  const origin = request.headers.origin
  reply.header('vary', 'Origin')
  if (origin !== undefined && redirectOrigins(client).includes(origin)) {
    reply.header('access-control-allow-origin', origin)
  }
}
