import { OAuthError } from '../errors.js'
import type { GrantDescriptor } from '../grants/grant.js'
import { redirectUriProblem } from '../oauth/redirect-uri.js'
import { parseScope } from '../oauth/scope.js'

/**
 * RFC 7591 §2 client metadata: what a registration request may say, checked field by field
 * (§5: every field is validated). Fields latchkey does not understand are ignored and never
 * echoed (§2: "MUST ignore").
 */

export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

/** The reserved scope of the admin API (admin/client-rules.ts ADMIN_SCOPE): registration refuses it. */
const ADMIN_SCOPE = 'latchkey:admin'

/** Which grants registration may give: never password, and client_credentials only with an initial access token. */
const OPEN_GRANTS: readonly string[] = ['authorization_code', 'refresh_token']
const TOKEN_GRANTS: readonly string[] = ['authorization_code', 'refresh_token', 'client_credentials']

export const MAX_URIS = 20
export const MAX_URI_LENGTH = 2000
export const MAX_NAME_LENGTH = 255

/** The metadata of a self-registered client, as stored and as echoed back. */
export interface ClientMetadata {
  clientName: string
  redirectUris: string[]
  postLogoutRedirectUris: string[]
  tokenEndpointAuthMethod: AuthMethod
  grantTypes: string[]
  responseTypes: string[]
  scopes: string[]
}

export interface MetadataRules {
  /** `open`: public code clients only; `token`: confidential clients and client_credentials too. */
  mode: 'open' | 'token'
  /** REGISTRATION_SCOPES: the scopes a self-registered client may ask for. */
  scopes: readonly string[]
  /** The grants the server serves (a grant it does not serve cannot be registered). */
  grants: readonly GrantDescriptor[]
  /** An update's default token_endpoint_auth_method: the client's own (RFC 7592 §2.2 leaves it to the server). */
  defaultAuthMethod?: AuthMethod
}

const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * What a name shown on the consent page must not hold: controls (C0, DEL, C1), and the
 * invisible and bidirectional formatting characters that would hide or reorder its text (the
 * Arabic letter mark, zero-width characters and directional marks, embeddings and overrides,
 * word joiner to isolates, the byte order mark, line and paragraph separators).
 */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/

const invalidMetadata = (description: string) => new OAuthError('invalid_client_metadata', description)
const invalidRedirectUri = (description: string) => new OAuthError('invalid_redirect_uri', description)

function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw invalidMetadata(`${name} must be a string`)
  return value
}

function stringList(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) throw invalidMetadata(`${name} must be an array of strings`)
  return [...new Set(value)]
}

/** Redirect URIs under the rules every client's obey (redirect-uri.ts): exact, no wildcard, no fragment. */
function uriList(body: Record<string, unknown>, name: string, invalid: (description: string) => OAuthError): string[] {
  const uris = stringList(body, name) ?? []
  if (uris.length > MAX_URIS) throw invalid(`${name} may hold at most ${MAX_URIS} URIs`)
  for (const uri of uris) {
    if (uri.length > MAX_URI_LENGTH) throw invalid(`${name}: a URI is longer than ${MAX_URI_LENGTH} characters`)
    // URL parsing drops tabs and newlines, which exact matching would then never meet.
    if (CONTROL.test(uri)) throw invalid(`${name}: a URI contains control characters`)
    const problem = redirectUriProblem(uri)
    if (problem) throw invalid(`${name}: "${uri}" ${problem}`)
  }
  return uris
}

function authMethod(body: Record<string, unknown>, rules: MetadataRules): AuthMethod {
  const raw = stringField(body, 'token_endpoint_auth_method')
  // RFC 7591 §2 defaults to client_secret_basic; §3.2.1 lets the server substitute its own
  // value, and open registration admits public clients only.
  if (raw === undefined) return rules.defaultAuthMethod ?? (rules.mode === 'open' ? 'none' : 'client_secret_basic')
  const method = AUTH_METHODS.find((m) => m === raw)
  if (method === undefined) throw invalidMetadata(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`)
  if (rules.mode === 'open' && method !== 'none') {
    throw invalidMetadata('open registration admits public clients only: token_endpoint_auth_method must be none')
  }
  return method
}

function grantTypes(body: Record<string, unknown>, rules: MetadataRules, isPublic: boolean): string[] {
  const grants = stringList(body, 'grant_types') ?? ['authorization_code']
  if (grants.length === 0) throw invalidMetadata('grant_types must name at least one grant')
  const allowed = rules.mode === 'open' ? OPEN_GRANTS : TOKEN_GRANTS
  for (const type of grants) {
    const grant = rules.grants.find((g) => g.type === type)
    if (!grant || !allowed.includes(type)) {
      throw invalidMetadata(`grant_types: "${type}" cannot be registered here (allowed: ${allowed.filter((t) => rules.grants.some((g) => g.type === t)).join(', ')})`)
    }
    // OAuth 2.1 §4.2: client_credentials is for confidential clients only.
    if (isPublic && grant.confidentialOnly) throw invalidMetadata(`grant_types: ${type} needs a confidential client (token_endpoint_auth_method other than none)`)
  }
  // A refresh token only ever comes with a code exchange here.
  if (grants.includes('refresh_token') && !grants.includes('authorization_code')) {
    throw invalidMetadata('grant_types: refresh_token needs authorization_code')
  }
  return grants
}

/** RFC 7591 §2.1: response_types and grant_types must agree (`code` ⇔ authorization_code). */
function responseTypes(body: Record<string, unknown>, grants: readonly string[]): string[] {
  const usesCode = grants.includes('authorization_code')
  const types = stringList(body, 'response_types') ?? (usesCode ? ['code'] : [])
  const other = types.find((type) => type !== 'code')
  if (other !== undefined) throw invalidMetadata(`response_types: "${other}" is not supported (only code)`)
  if (usesCode !== types.includes('code')) {
    throw invalidMetadata('response_types and grant_types disagree: code goes with authorization_code (RFC 7591 §2.1)')
  }
  return types
}

function scopes(body: Record<string, unknown>, rules: MetadataRules): string[] {
  const raw = stringField(body, 'scope')
  if (raw === undefined) return [...rules.scopes]
  const names = raw.trim() === '' ? [] : parseScope(raw)
  if (names === undefined) throw invalidMetadata('scope must be a space-separated list of scope names')
  if (names.includes(ADMIN_SCOPE)) throw invalidMetadata(`scope: ${ADMIN_SCOPE} cannot be registered`)
  const refused = names.filter((name) => !rules.scopes.includes(name))
  if (refused.length > 0) throw invalidMetadata(`scope: not available to self-registered clients: ${refused.join(' ')}`)
  return names
}

/** What the consent page calls a client that gave no name: where it sends the user back. */
function defaultName(redirectUris: readonly string[]): string {
  const first = redirectUris[0]
  if (first === undefined) return 'Unnamed client'
  const url = new URL(first)
  // A host or scheme may be longer than a name may be (the column holds MAX_NAME_LENGTH).
  return (url.host === '' ? url.protocol.slice(0, -1) : url.host).slice(0, MAX_NAME_LENGTH)
}

function clientName(body: Record<string, unknown>, redirectUris: readonly string[]): string {
  const raw = stringField(body, 'client_name')
  if (raw === undefined) return defaultName(redirectUris)
  const name = raw.trim()
  if (name === '' || name.length > MAX_NAME_LENGTH || CONTROL.test(name)) {
    throw invalidMetadata(`client_name must be one line of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  if (UNSHOWABLE.test(name)) throw invalidMetadata('client_name must not contain invisible or text-direction control characters')
  return name
}

/** Checks a registration (or RFC 7592 update) request's metadata; throws the RFC 7591 §3.2.2 error. */
export function parseMetadata(body: unknown, rules: MetadataRules): ClientMetadata {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidMetadata('the request body must be a JSON object')
  const fields = body as Record<string, unknown>
  const tokenEndpointAuthMethod = authMethod(fields, rules)
  const grants = grantTypes(fields, rules, tokenEndpointAuthMethod === 'none')
  const responses = responseTypes(fields, grants)
  const redirectUris = uriList(fields, 'redirect_uris', invalidRedirectUri)
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw invalidRedirectUri('redirect_uris is required for the authorization_code grant')
  }
  return {
    clientName: clientName(fields, redirectUris),
    redirectUris,
    postLogoutRedirectUris: uriList(fields, 'post_logout_redirect_uris', invalidMetadata),
    tokenEndpointAuthMethod,
    grantTypes: grants,
    responseTypes: responses,
    scopes: scopes(fields, rules),
  }
}

/** The registered metadata as RFC 7591 §3.2.1 echoes it. */
export function metadataFields(metadata: ClientMetadata): Record<string, unknown> {
  return {
    client_name: metadata.clientName,
    redirect_uris: metadata.redirectUris,
    post_logout_redirect_uris: metadata.postLogoutRedirectUris,
    token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
    grant_types: metadata.grantTypes,
    response_types: metadata.responseTypes,
    scope: metadata.scopes.join(' '),
  }
}
