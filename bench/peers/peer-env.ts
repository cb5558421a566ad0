import { readFileSync } from 'node:fs'
import type { JWK } from 'jose'

/** What the harness hands every peer server, as environment variables. */
export interface PeerEnv {
  port: number
  issuer: string
  audience: string
  clientId: string
  clientSecret: string
  /** A private JWK (with kid and alg) the peer signs with, written by the harness. */
  privateJwk: JWK & { kid: string; alg: string }
}

export function readPeerEnv(env: NodeJS.ProcessEnv): PeerEnv {
  const get = (name: string): string => {
    const value = env[name]
    if (value === undefined || value === '') throw new Error(`${name} must be set`)
    return value
  }
  return {
    port: Number(get('PORT')),
    issuer: get('ISSUER'),
    audience: get('AUDIENCE'),
    clientId: get('CLIENT_ID'),
    clientSecret: get('CLIENT_SECRET'),
    privateJwk: JSON.parse(readFileSync(get('PRIVATE_JWK_FILE'), 'utf8')) as PeerEnv['privateJwk'],
  }
}
