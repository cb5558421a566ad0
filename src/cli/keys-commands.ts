import type { Command } from 'commander'
import type { AuditLog } from '../audit.js'
import type { Clock } from '../clock.js'
import { loadConfig } from '../config.js'
import { listKeys, type KeyInfo } from '../keys/key-store.js'
import { rotationPolicy } from '../keys/key-timeline.js'
import { retireKey, rotateKeys } from '../keys/key-writer.js'

type Print = (json: boolean, value: unknown, human: string) => void

function line(key: KeyInfo): string {
  const retires = key.retires_at === null ? '' : `  retires ${key.retires_at}`
  return `${key.kid}  ${key.alg}  ${key.status.padEnd(8)}  created ${key.created_at}  signs from ${key.signs_from}${retires}`
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
    .description('add a key: published now, signing after KEY_PUBLISH_DELAY; the current key stays published until its tokens have expired')
    .option('--now', 'sign with the new key at once (resource servers refetch on the unknown kid); the old key still verifies until it retires: for a leaked key, run `keys retire KID` instead')
    .option('--json', 'print the new key as {"kid","alg","status","created_at","signs_from"}')
    .action(async (opts: { now?: boolean; json?: boolean }) => {
      const config = loadConfig(env)
      const immediate = opts.now === true
      const created = (await rotateKeys(config.keysDir, { now: () => clock.now(), alg: 'RS256', immediate, policy: rotationPolicy(config), audit, warn }))!
      const { kid, alg, status, created_at, signs_from } = created
      const human = `${kid}  ${alg}  ${status}: published now, signs from ${signs_from}\nrunning servers pick it up within seconds`
      print(opts.json === true, { kid, alg, status, created_at, signs_from }, human)
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
