import { Option, type Command } from 'commander'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { loadConfig } from '../config.js'
import { SIGNING_ALGS, type SigningAlg } from '../keys/key-file.js'
import { readKeyDir } from '../keys/key-dir.js'
import { listKeys, type KeyInfo } from '../keys/key-store.js'
import { ALWAYS_SIGNING, planRotation, rotationPolicy, signingAlgs, type KeyTimes } from '../keys/key-timeline.js'
import { retireKey, rotateKeys, type WrittenKey } from '../keys/key-writer.js'

type Print = (json: boolean, value: unknown, human: string) => void

function line(key: KeyInfo): string {
  const retires = key.retires_at === null ? '' : `  retires ${key.retires_at}`
  return `${key.kid}  ${key.alg}  ${key.status.padEnd(8)}  created ${key.created_at}  signs from ${key.signs_from}${retires}`
}

/** The keys' times; files that do not read are left out here (rotateKeys warns about them). */
async function keyTimes(dir: string): Promise<KeyTimes[]> {
  try {
    return [...(await readKeyDir(dir)).keys.values()].map((k) => k.times)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

/** RS256 first (it always exists), then each other algorithm that has a current key. */
function rotatedAlgs(times: readonly KeyTimes[], now: number): SigningAlg[] {
  return [...new Set([ALWAYS_SIGNING, ...signingAlgs(times, now)])]
}

/** `keys list`, `keys rotate`, `keys retire`: KEYS_DIR, under its lock, with the server's settings. */
export function addKeyCommands(program: Command, deps: { env: Record<string, string | undefined>; clock: Clock; audit: AuditLog; print: Print; warn: (line: string) => void }): void {
  const { env, clock, audit, print } = deps
  const warn = (message: string) => deps.warn(`latchkey: warning: ${message}\n`)
  const keys = program.command('keys').description('manage signing keys (KEYS_DIR)')

  keys
    .command('list')
    .description('list the keys in KEYS_DIR with their status, when they sign from and when they retire')
    .option('--json', 'print an array of {"kid","alg","status","created_at","signs_from","retires_at"}')
    .action(async (opts: { json?: boolean }) => {
      const found = await listKeys(loadConfig(env).keysDir, clock.now())
      print(opts.json === true, found, found.length === 0 ? 'no keys' : found.map(line).join('\n'))
    })

  keys
    .command('rotate')
    .description(
      'add a key to every algorithm that has a current key (RS256 always): published now, signing after KEY_PUBLISH_DELAY; ' +
        'the current key stays published until its tokens have expired',
    )
    .addOption(new Option('--alg <alg>', 'rotate this algorithm only (a first key of ES256 or EdDSA also waits KEY_PUBLISH_DELAY)').choices(SIGNING_ALGS))
    .option('--now', 'sign with the new key at once (resource servers refetch on the unknown kid); the old key still verifies until it retires: for a leaked key, run `keys retire KID` instead')
    .option('--json', 'print the new key as {"kid","alg","status","created_at","signs_from"}; without --alg, when other algorithms were rotated too, the RS256 key with "also_rotated": their new keys')
    .action(async (opts: { alg?: SigningAlg; now?: boolean; json?: boolean }) => {
      const config = loadConfig(env)
      const immediate = opts.now === true
      const policy = rotationPolicy(config)
      const times = await keyTimes(config.keysDir)
      const algs = opts.alg !== undefined ? [opts.alg] : rotatedAlgs(times, clock.now())
      // Every refusal (a key still waiting to sign) before anything is written.
      for (const alg of algs) planRotation(times, clock.now(), { alg, immediate, policy })
      const created: WrittenKey[] = []
      for (const alg of algs) created.push((await rotateKeys(config.keysDir, { now: () => clock.now(), alg, immediate, policy, audit, warn }))!)
      const shown = created.map(({ kid, alg, status, created_at, signs_from }) => ({ kid, alg, status, created_at, signs_from }))
      const [first, ...others] = shown
      // The contract's object, unchanged while RS256 is the only algorithm; the others' keys beside it.
      const json = others.length === 0 ? first : { ...first, also_rotated: others }
      const human = `${shown.map((k) => `${k.kid}  ${k.alg}  ${k.status}: published now, signs from ${k.signs_from}`).join('\n')}\nrunning servers pick it up within seconds`
      print(opts.json === true, json, human)
    })

  keys
    .command('retire')
    .description('stop publishing and trusting a key at once (a compromise); a retired current key is replaced')
    .argument('<kid>', 'the key id, as `keys list` shows it')
    .option('--json', 'print the retired key as {"kid","alg","status","created_at","signs_from","retires_at"}')
    .action(async (kid: string, opts: { json?: boolean }) => {
      const retired = await retireKey(loadConfig(env).keysDir, kid, { now: () => clock.now(), audit, warn })
      print(opts.json === true, retired, `${line(retired)}\nno longer published or trusted; running servers drop it within seconds`)
    })
}
