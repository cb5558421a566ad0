import type { LoadSpec } from './load-spec.js'
import { median, progress } from './measure.js'
import { runLoad, type Pinning } from './processes.js'

// This VM's speed drifts by as much as 30 % within a minute (a CPU-bound loop alone shows it), so
// a ratio of two workloads measured minutes apart says as much about the drift as about the
// servers. The ratios the targets are judged by come from loads run in alternation instead:
// short rounds, each contender once per round, the order reversed every other round, and the
// median of the per-round ratios.

export const PAIRED_ROUNDS = 5
export const PAIRED_SECONDS = 3
export const PAIRED_WARM_UP_SECONDS = 1

export interface Contender {
  /** The name the ratios use, e.g. `latchkey cc@10`. */
  name: string
  /** The load of one round (a code workload takes that round's codes). */
  load: (round: number) => LoadSpec
}

/** Requests per second of each contender, one entry per round, in round order. */
export type PairedRates = Record<string, number[]>

export interface PairedRatio {
  numerator: string
  denominator: string
  /** numerator / denominator of each round. */
  perRound: number[]
  median: number
}

/** Runs every contender once per round, alternating the order; a round's errors or non-2xx answers stop the run. */
export async function interleave(pinning: Pinning, title: string, contenders: Contender[]): Promise<PairedRates> {
  progress(`paired: ${title}, ${PAIRED_ROUNDS} rounds of ${contenders.map((c) => c.name).join(' / ')}`)
  const rates: PairedRates = Object.fromEntries(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < PAIRED_ROUNDS; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse()
    for (const contender of order) {
      const result = await runLoad(pinning, contender.load(round))
      if (result.firstAnswerProblem !== undefined || result.errors + result.non2xx > 0) {
        throw new Error(`paired ${contender.name}, round ${round + 1}: ${result.firstAnswerProblem ?? `${result.errors} errors, ${result.non2xx} non-2xx`}`)
      }
      rates[contender.name]!.push(result.requestsPerSecond)
    }
  }
  progress(`  ${contenders.map((c) => `${c.name} ${median(rates[c.name]!).toFixed(0)}`).join(', ')} req/s (medians)`)
  return rates
}

/** numerator / denominator round by round, and their median; undefined when either was not measured. */
export function pairedRatio(rates: PairedRates, numerator: string, denominator: string): PairedRatio | undefined {
  const top = rates[numerator]
  const bottom = rates[denominator]
  if (top === undefined || bottom === undefined || top.length === 0 || top.length !== bottom.length) return undefined
  const perRound = top.map((value, i) => value / bottom[i]!)
  return { numerator, denominator, perRound, median: median(perRound) }
}
