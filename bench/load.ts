import autocannon, { type AutocannonRequest } from 'autocannon'
import { text } from 'node:stream/consumers'
import type { LoadResult, LoadSpec } from './harness/load-spec.js'

// The load generator, a process of its own (pinned to another CPU than the server): reads a
// LoadSpec as JSON on stdin, runs autocannon, prints a LoadResult as JSON on stdout.

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Checks the first answer only: the rest are counted by status. */
function firstAnswerCheck(expectField: string) {
  let problem: string | undefined = 'no answer'
  let checked = false
  return {
    onResponse(status: number, body: string): void {
      if (checked) return
      checked = true
      try {
        const json = status >= 200 && status < 300 ? (JSON.parse(body) as Record<string, unknown>) : undefined
        // An error answer carries no token, so it can be shown.
        if (json === undefined) problem = `status ${status}: ${body.slice(0, 200)}`
        else if (!(expectField in json)) problem = `no "${expectField}" in the answer`
        else if (expectField === 'active' && json.active !== true) problem = '"active" is not true'
        // A JWT, not an opaque token, which would be cheaper to issue.
        else if (expectField === 'access_token' && String(json.access_token).split('.').length !== 3) problem = 'access_token is not a JWT'
        else problem = undefined
      } catch {
        problem = `status ${status}, not JSON`
      }
    },
    problem: () => problem,
  }
}

/**
 * The request of a workload, with what it consumes: `remaining` counts the codes left (a code
 * workload stops after them). Built once, so the warm-up and the measured run share the codes
 * and the refresh chains; `onAnswer` is read at each answer, so each run checks its own.
 */
function requestFor(spec: LoadSpec, answers: { onAnswer: (status: number, body: string) => void }): { request: AutocannonRequest; remaining?: () => number } {
  const onFirst = (status: number, body: string) => answers.onAnswer(status, body)
  const { body } = spec
  switch (body.kind) {
    case 'static':
      return {
        request: {
          method: spec.method,
          headers: body.form === undefined ? spec.headers : { ...spec.headers, ...FORM },
          ...(body.form === undefined ? {} : { body: body.form }),
          onResponse: onFirst,
        },
      }
    case 'codes': {
      let next = 0
      return {
        remaining: () => body.codes.length - body.spare - next,
        request: {
          method: 'POST',
          headers: { ...spec.headers, ...FORM },
          // A code is good once: every request takes the next one.
          setupRequest: (request) => {
            const code = body.codes[next++] ?? { code: 'exhausted', verifier: 'exhausted' }
            const form = new URLSearchParams({ grant_type: 'authorization_code', code: code.code, code_verifier: code.verifier, redirect_uri: body.redirectUri })
            return { ...request, body: form.toString() }
          },
          onResponse: onFirst,
        },
      }
    }
    case 'refresh': {
      // autocannon clears a connection's context after each pass over `requests`, so the chains
      // live here: a request takes the newest token of a chain, its answer puts the next one
      // back. With one request in flight per connection, no token is ever presented twice.
      const newest = [...body.refreshTokens]
      return {
        request: {
          method: 'POST',
          headers: { ...spec.headers, ...FORM },
          setupRequest: (request) => {
            const token = newest.pop() ?? 'exhausted'
            return { ...request, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString() }
          },
          onResponse: (status, responseBody) => {
            onFirst(status, responseBody)
            if (status !== 200) return
            const next = (JSON.parse(responseBody) as { refresh_token?: string }).refresh_token
            if (next !== undefined) newest.push(next)
          },
        },
      }
    }
  }
}

/** The share of the codes a warm-up may use at most, so the measured run keeps the rest. */
const WARM_UP_CODE_SHARE = 0.4

async function run(spec: LoadSpec): Promise<LoadResult> {
  const answers = { onAnswer: (_status: number, _body: string) => {} }
  const { request, remaining } = requestFor(spec, answers)
  if (spec.warmUpSeconds > 0) {
    // Every workload is warmed up, so V8 has optimised its path before it is measured: a code
    // workload on its first codes (at most WARM_UP_CODE_SHARE of them), refresh on its chains.
    const total = remaining?.()
    const warmUp = autocannon({ url: spec.url, connections: spec.connections, duration: spec.warmUpSeconds, requests: [request] })
    if (remaining !== undefined && total !== undefined) {
      answers.onAnswer = () => {
        if (remaining() <= total * (1 - WARM_UP_CODE_SHARE)) warmUp.stop()
      }
    }
    await warmUp
  }
  const check = firstAnswerCheck(spec.expectField)
  answers.onAnswer = (status, body) => check.onResponse(status, body)
  const amount = remaining?.()
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    ...(amount === undefined ? { duration: spec.durationSeconds } : { amount }),
    timeout: 10,
    requests: [request],
  })
  return {
    // Total over time, not autocannon's mean of per-second samples: a run that stops after an
    // amount of requests ends in a partial second.
    requestsPerSecond: result.requests.total / result.duration,
    seconds: result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    firstAnswerProblem: check.problem(),
  }
}

const spec = JSON.parse(await text(process.stdin)) as LoadSpec
process.stdout.write(JSON.stringify(await run(spec)))
