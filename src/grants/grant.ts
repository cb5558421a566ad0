import type { SignInChecker } from '../accounts/credentials.js'
import type { SignInRecheck } from './sign-in-recheck.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Params } from '../oauth/params.js'
import type { AuditLog } from '../audit.js'
import type { Client } from '../storage/clients.js'
import type { Repositories } from '../storage/repositories.js'
import type { TokenResponse, TokenResponses } from '../tokens/token-response.js'

export interface TokenRequest {
  params: Params
  /** The request's audit log: security events, ids only. */
  audit: AuditLog
  /** The grant_type being served (for the audit log). */
  grantType: string
  /** The caller's address: fastify's request.ip (from X-Forwarded-For only with TRUST_PROXY). */
  ip: string
}

/** What a grant is, known without building it: registration, discovery and the CLI read this. */
export interface GrantDescriptor {
  /** Its `grant_type` value: an RFC 6749 name, or an absolute URI for an extension grant (RFC 6749 §4.5). */
  readonly type: string
  /** /token refuses it to public clients (unauthorized_client), and registration refuses them the grant. */
  readonly confidentialOnly: boolean
  /** The request parameters it reads, besides grant_type and client authentication. */
  readonly parameters: readonly string[]
}

/** Everything a grant may be built from; each definition hands its grant only what it uses. */
export interface GrantDeps {
  config: Config
  repos: Repositories
  tokens: TokenResponses
  /** The sign-in check shared with the login page (throttle and limits included). */
  signIns: SignInChecker
  /** The sign-in requirement (MFA_REQUIRED, --require-mfa), asked again when a code or refresh token is redeemed. */
  requirements: SignInRecheck
  clock: Clock
}

export interface GrantHandler {
  handle(req: TokenRequest, client: Client): Promise<TokenResponse>
}

/** A grant /token can serve: its descriptor and how to build its handler. */
export interface GrantDefinition extends GrantDescriptor {
  create(deps: GrantDeps): GrantHandler
}

/** A built grant, as /token picks it by `grant_type`. */
export interface Grant extends GrantDescriptor, GrantHandler {}
