/** What the harness hands the two resource-server apps, as environment variables. */
export interface ResourceServerEnv {
  port: number
  issuer: string
  audience: string
}

export function readResourceServerEnv(env: NodeJS.ProcessEnv): ResourceServerEnv {
  const { PORT, ISSUER, AUDIENCE } = env
  if (!PORT || !ISSUER || !AUDIENCE) throw new Error('PORT, ISSUER and AUDIENCE must be set')
  return { port: Number(PORT), issuer: ISSUER, audience: AUDIENCE }
}

/** The answer of GET /api/me in both apps. */
export function me(claims: Record<string, unknown>): { sub: unknown; scope: unknown; client_id: unknown } {
  return { sub: claims.sub, scope: claims.scope, client_id: claims.client_id }
}
