/** What the harness asks bench/load.ts to do: one autocannon run, described as JSON on stdin. */
export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  headers: Record<string, string>
  connections: number
  durationSeconds: number
  /** The body of every request, or how each request gets its own. */
  body: StaticBody | CodeBodies | RefreshBodies
  /** A field every successful JSON answer has; the first answer is checked for it. */
  expectField: string
  /** Seconds of unmeasured load first (a code workload's at most 40 % of its codes); 0: the first seconds are measured too. */
  warmUpSeconds: number
}

export interface StaticBody {
  kind: 'static'
  /** Form-encoded body, or undefined for none. */
  form: string | undefined
}

/** One authorization code per request: autocannon stops after `codes.length - spare` answers. */
export interface CodeBodies {
  kind: 'codes'
  redirectUri: string
  codes: Array<{ code: string; verifier: string }>
  /** Codes held back so the requests built ahead of the last answers still get one. */
  spare: number
}

/** Refresh-token rotation: each request takes a chain's newest token, each answer puts the next one back. */
export interface RefreshBodies {
  kind: 'refresh'
  refreshTokens: string[]
}

export interface LoadResult {
  requestsPerSecond: number
  /** How long the measured run took. */
  seconds: number
  latencyP50Ms: number
  latencyP99Ms: number
  requests: number
  errors: number
  timeouts: number
  non2xx: number
  /** undefined when the first answer was right; else what was wrong with it. */
  firstAnswerProblem: string | undefined
}
