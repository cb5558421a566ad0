import { Command, CommanderError } from 'commander'
import { AdminError } from '../admin/admin-error.js'
import { productionPasswords } from '../accounts/passwords.js'
import { demoClientFile, setUpDemo, writeDemoClientFile } from '../admin/demo.js'
import { systemClock } from '../clock.js'
import { ConfigError, loadConfig } from '../config.js'
import { KeyFileError } from '../keys/key-store.js'
import { connect } from '../storage/connect.js'
import { migrate } from '../storage/migrate.js'
import { purgeExpired, purgePolicy } from '../storage/purge.js'
import { inTransaction } from '../storage/repositories.js'
import { fileURLToPath } from 'node:url'
import { clientCommands } from './client-commands.js'
import { printer, stderrAudit, withStore, type CliIo } from './io.js'
import { addKeyCommands } from './keys-commands.js'
import { registrationCommands } from './registration-commands.js'
import { userCommands } from './user-commands.js'

export type { CliIo } from './io.js'

/** Where `npm run example` looks for its client (gitignored): examples/ in this package. */
export const DEMO_CLIENT_FILE = fileURLToPath(new URL('../../examples/.demo-client.json', import.meta.url))

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
  registrationCommands(program, io)

  addKeyCommands(program, { env: io.env, clock: io.clock ?? systemClock, audit: stderrAudit(io), print, warn: (line) => io.stderr(line) })

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
    .command('demo')
    .description('create (or reset) a demo user and clients to sign in with, and write the example app\'s client file')
    .option('--app-url <origin>', 'the origin the example app runs at', 'http://localhost:5000')
    .option('--client-file <path>', 'where to write the example app\'s client id and secret', DEMO_CLIENT_FILE)
    .option('--json', 'print {"user","clients","authorize_url","code_verifier","client_file"} as JSON')
    .action(async (opts: { appUrl: string; clientFile: string; json?: boolean }) => {
      const config = loadConfig(io.env)
      const demo = await withStore(io, (store) =>
        setUpDemo(
          { transaction: inTransaction(store), passwords: io.passwords ?? productionPasswords, clock: systemClock, audit: stderrAudit(io) },
          { issuer: config.issuer, audience: config.defaultAudience, appOrigin: opts.appUrl },
        ),
      )
      writeDemoClientFile(opts.clientFile, demoClientFile(config.issuer, config.defaultAudience, demo))
      const { user, clients, authorize_url, code_verifier } = demo
      const pub = clients.public
      const human = [
        demo.created ? 'The demo is set up.' : 'The demo already existed: it has a new password and a new client secret.',
        '',
        `  user:           ${user.username}`,
        `  password:       ${user.password}`,
        `  example app:    client ${clients.example_app.client_id}, secret written to ${opts.clientFile}`,
        `  public client:  ${pub.client_id} (PKCE, redirect URI ${pub.redirect_uri})`,
        '',
        'Sign in through the example app (each in its own terminal):',
        '  npm run resource-server',
        '  npm run example          then open ' + opts.appUrl,
        '',
        'Or by hand with the public client: open this URL, sign in, and copy the code from the',
        `address bar of the page it sends you to (nothing listens on ${new URL(pub.redirect_uri).host}):`,
        `  ${authorize_url}`,
        'then exchange it for tokens:',
        `  curl -s ${config.issuer}/token -d grant_type=authorization_code -d client_id=${pub.client_id} \\`,
        `    -d redirect_uri=${pub.redirect_uri} -d code_verifier=${code_verifier} -d code=CODE`,
      ].join('\n')
      print(opts.json === true, { user: { id: user.id, username: user.username, password: user.password }, clients, authorize_url, code_verifier, client_file: opts.clientFile }, human)
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

