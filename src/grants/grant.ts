import type { FastifyBaseLogger } from 'fastify'
import type { Params } from '../oauth/params.js'
import type { Client, GrantType } from '../storage/clients.js'

export interface TokenRequest {
  params: Params
  /** The request's logger: for security events, never for secrets or tokens. */
  log: FastifyBaseLogger
  /** The caller's address (fastify's request.ip; trustProxy is off). */
  ip: string
}

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
  refresh_token?: string
  /** OIDC Core §3.1.3.3: with the openid scope. */
  id_token?: string
}

export interface Grant {
  readonly type: GrantType
  handle(req: TokenRequest, client: Client): Promise<TokenResponse>
}
