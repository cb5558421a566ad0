import { Command, CommanderError } from 'commander'
import { productionPasswords, type PasswordHasher } from '../accounts/passwords.js'
import { AdminError } from '../admin/admin-error.js'
import type { AuditEvent, AuditLog } from '../audit.js'
import { addClient } from '../admin/clients.js'
import { demoClientFile, setUpDemo, writeDemoClientFile } from '../admin/demo.js'
import { addScope } from '../admin/scopes.js'
import { addUser } from '../admin/users.js'
import { systemClock, type Clock } from '../clock.js'
import { ConfigError, loadConfig } from '../config.js'
import { BUILT_IN_GRANTS } from '../grants/index.js'
import { addKeyCommands } from './keys-commands.js'
import { KeyFileError } from '../keys/key-store.js'
import { connect, type Store } from '../storage/connect.js'
import { migrate } from '../storage/migrate.js'
import { purgeExpired, purgePolicy } from '../storage/purge.js'
import { inTransaction, repositories } from '../storage/repositories.js'
import { fileURLToPath } from 'node:url'

/** Where `npm run example` looks for its client (gitignored): examples/ in this package. */
export const DEMO_CLIENT_FILE = fileURLToPath(new URL('../../examples/.demo-client.json', import.meta.url))

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** Where the CLI reads and writes: the process's own streams, or a test's buffers. */
export interface CliIo {
  env: Record<string, string | undefined>
  stdout(text: string): void
  stderr(text: string): void
  readStdin(): string
  /** The production argon2id costs unless a test swaps in cheap ones. */
  passwords?: PasswordHasher
  /** The system clock unless a test moves time. */
  clock?: Clock
}

/**
 * The CLI's audit log: one JSON line per security event on stderr, so `--json` output on stdout
 * stays exactly one value and a log collector reading stderr sees the same events as the
 * server's (`"audit":true`).
 */
function stderrAudit(io: CliIo): AuditLog {
  return {
    record(event: AuditEvent) {
      io.stderr(`${JSON.stringify({ time: new Date().toISOString(), audit: true, ...event, via: 'cli' })}\n`)
    },
  }
}

/** Opens the database (migrated, as the server would have it), runs `work`, closes it. */
async function withStore<T>(io: CliIo, work: (store: Store) => Promise<T>): Promise<T> {
  const store = connect(loadConfig(io.env).database)
  try {
    await migrate(store)
    return await work(store)
  } finally {
    await store.close()
  }
}

export function buildCli(io: CliIo): Command {
  const print = (json: boolean, value: unknown, human: string): void => {
    io.stdout(json ? `${JSON.stringify(value)}\n` : `${human}\n`)
  }
  // One line: a trailing newline (from echo or a here-string) is not part of the password.
  const readPasswordFromStdin = (): string => io.readStdin().replace(/\r?\n$/, '')

  const program = new Command('latchkey')
    .description('latchkey, an OAuth 2.0 authorization server: administration')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(text.split('\n')[0] + '\n'),
    })

  const user = program.command('user').description('manage users')
  user
    .command('add')
    .description('add a user (password hashed with argon2id)')
    .requiredOption('--username <username>', 'the login name')
    .option('--password <password>', 'the password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--email <email>', 'email address')
    .option('--name <name>', 'display name')
    .option('--json', 'print {"id","username"} as JSON')
    .action(async (opts: { username: string; password?: string; passwordStdin?: boolean; email?: string; name?: string; json?: boolean }) => {
      if ((opts.password === undefined) === (opts.passwordStdin !== true)) {
        throw new AdminError('give exactly one of --password or --password-stdin')
      }
      const password = opts.password ?? readPasswordFromStdin()
      const added = await withStore(io, (store) =>
        addUser({ users: repositories(store).users, passwords: io.passwords ?? productionPasswords, clock: systemClock, audit: stderrAudit(io) }, { username: opts.username, password, email: opts.email, name: opts.name }),
      )
      print(opts.json === true, added, `added user ${added.username} (id ${added.id})`)
    })

  const client = program.command('client').description('manage clients')
  client
    .command('add')
    .description('register a client; a confidential client\'s secret is shown once')
    .requiredOption('--name <name>', 'the name shown on the consent page')
    .option('--redirect-uri <uri>', 'a redirect URI (repeatable; required for authorization_code)', collect, [])
    .option('--public', 'a public client (native or single-page app): no secret, PKCE required')
    .option('--grant <grant_type>', `a grant_type: ${BUILT_IN_GRANTS.map((g) => g.type).join(', ')} (repeatable)`, collect, [])
    .option('--scope <scopes>', 'space-separated scopes the client may request (default: openid profile email offline_access)')
    .option('--resource <uri>', 'an audience the client may request with resource (repeatable; default: DEFAULT_AUDIENCE only)', collect, [])
    .option('--audience <uri>', 'register a resource server for this audience (may introspect its tokens)')
    .option('--post-logout-redirect-uri <uri>', 'a post-logout redirect URI (repeatable)', collect, [])
    .option('--json', 'print {"client_id","client_secret"} as JSON')
    .action(async (opts: { name: string; redirectUri: string[]; public?: boolean; grant: string[]; scope?: string; resource: string[]; audience?: string; postLogoutRedirectUri: string[]; json?: boolean }) => {
      const added = await withStore(io, (store) => {
        const repos = repositories(store)
        return addClient(
          { clients: repos.clients, scopes: repos.scopes, clock: systemClock, audit: stderrAudit(io) },
          {
            name: opts.name,
            redirectUris: opts.redirectUri,
            postLogoutRedirectUris: opts.postLogoutRedirectUri,
            isPublic: opts.public,
            grants: opts.grant,
            scope: opts.scope,
            audience: opts.audience,
            resources: opts.resource,
          },
        )
      })
      const human = added.client_secret === undefined
        ? `client_id: ${added.client_id}`
        : `client_id: ${added.client_id}\nclient_secret: ${added.client_secret}\n(the secret is shown only this once)`
      print(opts.json === true, added, human)
    })

  program
    .command('scope')
    .description('manage scopes')
    .command('add')
    .description('add a scope, or update the description of an existing one')
    .argument('<name>', 'the scope name')
    .requiredOption('--description <text>', 'shown on the consent page')
    .option('--json', 'print {"name","description"} as JSON')
    .action(async (name: string, opts: { description: string; json?: boolean }) => {
      const added = await withStore(io, (store) => addScope({ scopes: repositories(store).scopes }, { name, description: opts.description }))
      print(opts.json === true, added, `scope ${added.name}: ${added.description}`)
    })

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
      print(opts.json === true, { deleted }, human)
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
        print(opts.json === true, { applied: names }, names.length === 0 ? 'nothing to apply' : `applied ${names.join(', ')}`)
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

