import type { Test } from 'tap'

/** CI=true (or any value but '' and 'false'), as .ci/run sets it. */
export function underCi(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== 'false'
}

/**
 * A part the test needs (nginx, PostgreSQL) is missing. A developer's run skips the file and
 * says why; CI fails instead, so a missing part never passes silently (as chromium.ts does).
 */
export function partMissing(t: Test, message: string): false {
  if (underCi()) {
    t.fail(`${message}; CI must run these tests`)
  } else {
    // A plan of 0 with a reason: the file reports itself as skipped, and why.
    t.plan(0, `skipped: ${message}`)
  }
  return false
}
