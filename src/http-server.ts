import type { Socket } from 'node:net'
import type { FastifyHttpOptions } from 'fastify'
import type { Server } from 'node:http'

/** How long a connection may take, in milliseconds; tests shorten them. */
export interface ConnectionLimits {
  /** The request line and headers must arrive within this (slow-headers attacks). */
  headersTimeoutMs: number
  /** The whole request, body included. */
  requestTimeoutMs: number
  /**
   * An idle keep-alive connection stays open this long: longer than the idle timeout of the
   * load balancers in front (60 s for AWS ALB and nginx's upstream keepalive_timeout), so the
   * balancer, not latchkey, closes it and never sends a request on a connection being closed.
   */
  keepAliveTimeoutMs: number
  /** How often Node checks the two timeouts above (its default is 30 s). */
  checkIntervalMs: number
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 75_000,
  checkIntervalMs: 1_000,
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' }

/** The answer to a request Node could not parse, and the description it carries. */
function refusal(error: NodeJS.ErrnoException): { status: number; description: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, description: 'the request headers are too large' }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, description: 'the request took too long to arrive' }
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, description: 'the request body is malformed' }
    default:
      return { status: 400, description: 'the request is malformed' }
  }
}

/**
 * Node's `clientError` (a request it could not parse: headers too large, a malformed request
 * line, a timeout). fastify's default answers and then resets the socket without saying
 * `Connection: close`, so a client or proxy that pools connections sends its next request into
 * a dead socket (fastify#4335): one attacker's oversized request broke the next user's. Here the
 * answer says `Connection: close`, is an RFC 6749 JSON error, and the socket is closed after it
 * is flushed; only the offending connection ends.
 */
export function closeOnClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // Already gone (the peer reset it): nothing to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const { status, description } = refusal(error)
  const body = JSON.stringify({ error: 'invalid_request', error_description: description })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n` +
      'Connection: close\r\n' +
      'Cache-Control: no-store\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  // A peer that never reads or closes does not hold the socket.
  setTimeout(() => socket.destroy(), 5_000).unref()
}

/** fastify's server options for these limits. */
export function serverOptions(limits: ConnectionLimits): FastifyHttpOptions<Server> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Passed to http.createServer: headersTimeout must not exceed requestTimeout.
    http: { headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs), connectionsCheckingInterval: limits.checkIntervalMs },
    clientErrorHandler: closeOnClientError,
    // On close: idle keep-alive connections end at once, busy ones after their response.
    forceCloseConnections: 'idle',
  }
}
