import type { Params } from '../oauth/params.js'
import type { Client, GrantType } from '../storage/clients.js'

export interface TokenRequest {
  params: Params
}

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
  refresh_token?: string
}

export interface Grant {
  readonly type: GrantType
  handle(req: TokenRequest, client: Client): Promise<TokenResponse>
}
