import { Command, CommanderError } from 'commander'
import { AdminError } from '../admin/admin-error.js'
import { systemClock } from '../clock.js'
import { ConfigError, loadConfig } from '../config.js'
import { KeyFileError, listKeys } from '../keys/key-store.js'
import { connect } from '../storage/connect.js'
import { migrate } from '../storage/migrate.js'
import { purgeExpired, purgePolicy } from '../storage/purge.js'
import { clientCommands } from './client-commands.js'
import { printer, withStore, type CliIo } from './io.js'
import { userCommands } from './user-commands.js'

export type { CliIo } from './io.js'

export function buildCli(io: CliIo): Command {
  const print = printer(io)

  const program = new Command('latchkey')
    .description('latchkey, an OAuth 2.0 authorization server: administration')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(text.split('\n')[0] + '\n'),
    })

  userCommands(program, io)
  clientCommands(program, io)

  program
    .command('keys')
    .description('inspect signing keys')
    .command('list')
    .description('list the keys in KEYS_DIR')
    .option('--json', 'print an array of {"kid","alg","status","created_at"}')
    .action(async (opts: { json?: boolean }) => {
      const keys = await listKeys(loadConfig(io.env).keysDir)
      const human = keys.length === 0 ? 'no keys' : keys.map((k) => `${k.kid}  ${k.alg}  ${k.status}  ${k.created_at}`).join('\n')
      print(opts.json, keys, human)
    })

  program
    .command('purge')
    .description('delete expired and spent rows now (the server also does every PURGE_INTERVAL seconds)')
    .option('--json', 'print {"deleted":{TABLE:N,…}}')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig(io.env)
      const deleted = await withStore(io, (store) => purgeExpired(store.db, purgePolicy(config, systemClock.now())))
      const width = Math.max(...Object.keys(deleted).map((table) => table.length))
      const human = Object.entries(deleted).map(([table, count]) => `${table.padEnd(width)}  ${count}`).join('\n')
      print(opts.json, { deleted }, human)
    })

  program
    .command('migrate')
    .description('apply pending database migrations')
    .option('--json', 'print {"applied":[names]}')
    .action(async (opts: { json?: boolean }) => {
      const store = connect(loadConfig(io.env).database)
      try {
        const names = await migrate(store)
        print(opts.json, { applied: names }, names.length === 0 ? 'nothing to apply' : `applied ${names.join(', ')}`)
      } finally {
        await store.close()
      }
    })

  return program
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await buildCli(io).parseAsync(argv)
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; commander already printed the one-line error otherwise.
      return error.exitCode
    }
    if (error instanceof AdminError || error instanceof ConfigError || error instanceof KeyFileError) {
      io.stderr(`latchkey: ${error.message}\n`)
    } else {
      io.stderr(`latchkey: ${error instanceof Error ? error.message : String(error)}\n`)
    }
    return 1
  }
}

