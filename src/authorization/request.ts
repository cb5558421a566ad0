import type { PkceRequired } from '../config.js'
import { AuthorizationRedirectError, OAuthError } from '../errors.js'
import { resolveClientAudience } from '../oauth/audience.js'
import type { Params } from '../oauth/params.js'
import { parseChallenge, type PkceChallenge } from '../oauth/pkce.js'
import { redirectUriMatches } from '../oauth/redirect-uri.js'
import { resolveScope } from '../oauth/scope.js'
import type { Client, ClientRepository } from '../storage/clients.js'
import type { Scope, ScopeRepository } from '../storage/scopes.js'

export interface Prompt {
  none: boolean
  login: boolean
  consent: boolean
}

/** A validated authorization request. */
export interface AuthorizationRequest {
  client: Client
  redirectUri: string
  state: string | undefined
  scopes: Scope[]
  resource: string
  pkce: PkceChallenge | undefined
  prompt: Prompt
  /** OIDC Core §3.1.2.1 */
  nonce: string | undefined
  /** A sign-in older than this must be repeated (OIDC Core §3.1.2.1). */
  maxAgeSeconds: number | undefined
  loginHint: string | undefined
  /** An ID token naming the user the client expects (verified by the route). */
  idTokenHint: string | undefined
  /** OIDC Core §3.1.2.1: the languages the pages should be in, by preference (unknown ones are ignored). */
  uiLocales: string | undefined
  /**
   * OIDC Core §3.1.2.1 acr_values: the classes of sign-in the client accepts, space-separated,
   * by preference; stored on the transaction. Unknown values are ignored (requiredAcrOf).
   */
  acrValues: string | undefined
}

// OIDC Core §6: request objects are not supported, and each has its own error code.
const UNSUPPORTED: [string, 'request_not_supported' | 'request_uri_not_supported' | 'registration_not_supported'][] = [
  ['request', 'request_not_supported'],
  ['request_uri', 'request_uri_not_supported'],
  ['registration', 'registration_not_supported'],
]
/**
 * The longest value (in characters) of each parameter a transaction stores. Longer is an error,
 * and nothing is stored: an anonymous caller must not be able to store kilobytes per request.
 * Generous for real clients: state and nonce carry a random value or a small signed blob, a
 * username or email address fits in 255, and a registered redirect URI in 2 KiB.
 */
export const MAX_PARAMETER_LENGTHS = {
  redirect_uri: 2048,
  state: 1024,
  nonce: 1024,
  login_hint: 255,
  scope: 4096,
  resource: 4096,
  acr_values: 255,
} as const

/** Checked once the redirect URI is verified, so these errors go back by redirect. */
const CHECKED_AFTER_REDIRECT_URI = ['nonce', 'login_hint', 'scope', 'resource', 'acr_values'] as const

function tooLong(name: keyof typeof MAX_PARAMETER_LENGTHS, value: string | undefined): boolean {
  return value !== undefined && value.length > MAX_PARAMETER_LENGTHS[name]
}

function parseMaxAge(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined
  // At most ten digits (about 317 years): bounded, and exact as a number.
  if (!/^\d{1,10}$/.test(value)) return null
  return Number(value)
}

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account'])

function parsePrompt(value: string | undefined): Prompt | undefined {
  const values = new Set((value ?? '').split(' ').filter((v) => v !== ''))
  if (![...values].every((v) => PROMPTS.has(v))) return undefined
  // OIDC Core §3.1.2.1: none with any other value is an error.
  if (values.has('none') && values.size > 1) return undefined
  return { none: values.has('none'), login: values.has('login') || values.has('select_account'), consent: values.has('consent') }
}

/**
 * The client a request or a form names. Unknown is a plain OAuthError, so at /authorize and
 * /logout it is shown on a page and never redirects (RFC 9700 §4.11.2).
 */
export async function findClient(clients: Pick<ClientRepository, 'findById'>, clientId: string): Promise<Client> {
  const client = await clients.findById(clientId)
  if (!client) throw new OAuthError('invalid_request', 'unknown client', { reason: 'unknown_client' })
  return client
}

/**
 * An /authorize error found before the user has done anything. It goes back by redirect
 * (RFC 6749 §4.1.2.1) only to a client an administrator added. A self-registered client's
 * redirect URI is anyone's choice, so a redirect there would make latchkey an open redirector
 * (RFC 9700 §4.11.2): the error is shown on a page (400) instead. After the user has answered
 * the consent page, errors redirect for every client (that is the user's own action).
 */
export function authorizationError(client: Client, error: OAuthError, target: { redirectUri: string; state: string | undefined }): OAuthError {
  if (client.selfRegistered === true) return new OAuthError(error.code, error.description, { status: 400 })
  return new AuthorizationRedirectError(error.code, error.description, target)
}

/** Validates in RFC 6749 §4.1.2.1 order: client and redirect URI first, then the rest. */
export async function parseAuthorizationRequest(
  deps: { clients: ClientRepository; scopes: ScopeRepository; pkceRequired: PkceRequired; defaultAudience: string },
  params: Params,
): Promise<AuthorizationRequest> {
  // Until the client and redirect URI are verified, errors go on a page (they are plain OAuthErrors);
  // after, by redirect, except for a self-registered client (see authorizationError).
  if (params.isRepeated('client_id')) throw new OAuthError('invalid_request', 'client_id was sent more than once')
  const clientId = params.get('client_id')
  if (clientId === undefined) throw new OAuthError('invalid_request', 'client_id is required')
  const client = await findClient(deps.clients, clientId)
  if (params.isRepeated('redirect_uri')) throw new OAuthError('invalid_request', 'redirect_uri was sent more than once', { reason: 'redirect_uri' })
  const redirectUri = params.get('redirect_uri')
  if (redirectUri === undefined) throw new OAuthError('invalid_request', 'redirect_uri is required', { reason: 'redirect_uri' })
  if (tooLong('redirect_uri', redirectUri)) {
    throw new OAuthError('invalid_request', `redirect_uri is longer than ${MAX_PARAMETER_LENGTHS.redirect_uri} characters`, { reason: 'redirect_uri' })
  }
  if (!redirectUriMatches(client.redirectUris, redirectUri, client.isPublic)) {
    throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client', { reason: 'redirect_uri' })
  }

  const state = params.get('state')
  if (tooLong('state', state)) {
    // Not echoed: the error redirect must not carry an over-long value back to the client.
    const description = `state is longer than ${MAX_PARAMETER_LENGTHS.state} characters`
    throw authorizationError(client, new OAuthError('invalid_request', description), { redirectUri, state: undefined })
  }
  const fail = (error: OAuthError) => authorizationError(client, error, { redirectUri, state })
  try {
    params.rejectRepeated()
  } catch (error) {
    throw error instanceof OAuthError ? fail(error) : error
  }
  for (const name of CHECKED_AFTER_REDIRECT_URI) {
    if (tooLong(name, params.get(name))) {
      throw fail(new OAuthError('invalid_request', `${name} is longer than ${MAX_PARAMETER_LENGTHS[name]} characters`))
    }
  }
  const responseType = params.get('response_type')
  if (responseType === undefined) throw fail(new OAuthError('invalid_request', 'response_type is required'))
  if (responseType !== 'code') {
    throw fail(new OAuthError('unsupported_response_type', 'only response_type=code is supported'))
  }
  if (!client.grantTypes.includes('authorization_code')) {
    throw fail(new OAuthError('unauthorized_client', 'the client is not registered for the authorization code grant'))
  }

  let pkce: PkceChallenge | undefined
  try {
    pkce = parseChallenge(params.get('code_challenge'), params.get('code_challenge_method'))
  } catch (error) {
    throw error instanceof OAuthError ? fail(error) : error
  }
  // OAuth 2.1 §4.1.2.1: public clients always; everyone while PKCE_REQUIRED=all.
  if (pkce === undefined && (client.isPublic || deps.pkceRequired === 'all')) {
    throw fail(new OAuthError('invalid_request', 'code_challenge is required (S256)'))
  }

  let names: string[]
  let resource: string
  try {
    names = resolveScope(params.get('scope'), client.scopes)
    // RFC 8707 §2: only an audience the client is registered for (invalid_target otherwise).
    resource = await resolveClientAudience(params.get('resource'), client, deps.defaultAudience, async (aud) => (await deps.clients.findByAudience(aud)) !== undefined)
  } catch (error) {
    throw error instanceof OAuthError ? fail(error) : error
  }
  const known = await deps.scopes.findByNames(names)
  if (known.length !== names.length) throw fail(new OAuthError('invalid_scope', 'unknown scope'))
  const scopes = names.map((name) => known.find((s) => s.name === name) as Scope)

  const prompt = parsePrompt(params.get('prompt'))
  if (prompt === undefined) throw fail(new OAuthError('invalid_request', 'prompt is not supported'))
  for (const [name, code] of UNSUPPORTED) {
    if (params.get(name) !== undefined) throw fail(new OAuthError(code, `the ${name} parameter is not supported`))
  }
  const maxAgeSeconds = parseMaxAge(params.get('max_age'))
  if (maxAgeSeconds === null) throw fail(new OAuthError('invalid_request', 'max_age must be a number of seconds'))
  const nonce = params.get('nonce')
  const loginHint = params.get('login_hint')
  return { client, redirectUri, state, scopes, resource, pkce, prompt, nonce, maxAgeSeconds, loginHint, idTokenHint: params.get('id_token_hint'), uiLocales: params.get('ui_locales'), acrValues: params.get('acr_values') }
}
