import type { Command } from 'commander'
import { productionPasswords } from '../accounts/passwords.js'
import { AdminError } from '../admin/admin-error.js'
import { listGrants, revokeGrants } from '../admin/grants.js'
import { listSessions, revokeSessions } from '../admin/sessions.js'
import { addUser, disableUser, enableUser, listUsers, removeUser, setPassword, showUser, updateUser, type UserView } from '../admin/users.js'
import { addTotp, listFactors, resetFactors, type FactorsView } from '../admin/second-factors.js'
import { secondFactors } from '../accounts/totp.js'
import { systemClock } from '../clock.js'
import { loadConfig } from '../config.js'
import { totpSecretBox } from '../keys/totp-key.js'
import type { Store } from '../storage/connect.js'
import { repositories } from '../storage/repositories.js'
import { CLI_ACTOR, fieldLines, listOptions, pageLines, printer, readPasswordFromStdin, stderrAudit, withStore, type CliIo, type ListOpts } from './io.js'

const userLine = (user: UserView) => `${user.username}  ${user.id}${user.disabled ? '  (disabled)' : ''}`

function factorLines(view: FactorsView): string {
  const totp = view.totp === null ? 'none' : view.totp.confirmed ? `confirmed, added ${view.totp.confirmed_at}` : `not confirmed (enrolment started ${view.totp.created_at})`
  const passkeys = view.passkeys.map((p) => `  ${p.name}  added ${p.created_at}  last used ${p.last_used_at ?? 'never'}`)
  return [`authenticator app: ${totp}`, `passkeys: ${view.passkeys.length}`, ...passkeys, `recovery codes left: ${view.recovery_codes_left}`].join('\n')
}

/** `user …`, `grants …` and `sessions …`: a user is named by --username. */
export function userCommands(program: Command, io: CliIo): void {
  const print = printer(io)
  const acting = () => ({ clock: systemClock, audit: stderrAudit(io), actor: CLI_ACTOR })
  const passwords = () => io.passwords ?? productionPasswords
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
      const password = opts.password ?? readPasswordFromStdin(io)
      const added = await withStore(io, (store) =>
        addUser({ users: repositories(store).users, passwords: passwords(), ...acting() }, { username: opts.username, password, email: opts.email, name: opts.name }),
      )
      print(opts.json, added, `added user ${added.username} (id ${added.id})`)
    })

  listOptions(user.command('list').description('list users by username'), 'username, email or name').action(async (opts: ListOpts) => {
    const page = await withStore(io, (store) => listUsers({ users: repositories(store).users }, opts))
    print(opts.json, page, pageLines(page, userLine))
  })

  user
    .command('show')
    .description('show one user')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { username: string; json?: boolean }) => {
      const shown = await withStore(io, (store) => showUser({ users: repositories(store).users }, opts.username))
      print(opts.json, shown, fieldLines(shown))
    })

  user
    .command('update')
    .description('change a user\'s username, email or name ("" clears email or name)')
    .requiredOption('--username <username>', 'the user')
    .option('--new-username <username>', 'the new login name')
    .option('--email <email>', 'the new email address')
    .option('--name <name>', 'the new display name')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { username: string; newUsername?: string; email?: string; name?: string; json?: boolean }) => {
      const updated = await withStore(io, (store) =>
        updateUser({ users: repositories(store).users, ...acting() }, opts.username, { username: opts.newUsername, email: opts.email, name: opts.name }),
      )
      print(opts.json, updated, fieldLines(updated))
    })

  user
    .command('set-password')
    .description('set a new password, read from standard input; ends the user\'s sessions and refresh tokens')
    .requiredOption('--username <username>', 'the user')
    .requiredOption('--password-stdin', 'read the password from standard input (required: never on the command line)')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { username: string; json?: boolean }) => {
      const password = readPasswordFromStdin(io)
      const updated = await withStore(io, (store) => setPassword({ users: repositories(store).users, passwords: passwords(), ...acting() }, opts.username, password))
      print(opts.json, updated, `password set for ${updated.username}`)
    })

  for (const [name, description, run] of [
    ['disable', 'stop a user from signing in; revokes their refresh tokens and ends their sessions', disableUser],
    ['enable', 'let a disabled user sign in again', enableUser],
  ] as const) {
    user
      .command(name)
      .description(description)
      .requiredOption('--username <username>', 'the user')
      .option('--json', 'print the user as JSON')
      .action(async (opts: { username: string; json?: boolean }) => {
        const changed = await withStore(io, (store) => run({ users: repositories(store).users, ...acting() }, opts.username))
        print(opts.json, changed, `${changed.username}: ${changed.disabled ? 'disabled' : 'enabled'}`)
      })
  }

  user
    .command('remove')
    .description('delete a user, with their consents, sessions and tokens (revoked first)')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print {"id","username"} as JSON')
    .action(async (opts: { username: string; json?: boolean }) => {
      const removed = await withStore(io, (store) => removeUser({ users: repositories(store).users, ...acting() }, opts.username))
      print(opts.json, removed, `removed user ${removed.username} (id ${removed.id})`)
    })

  // Second factors. The TOTP key is KEYS_DIR/totp.key, the one the server made: never made here.
  const factorsOf = (store: Store, audit = acting().audit) => {
    const config = loadConfig(io.env)
    const repos = repositories(store)
    return secondFactors({ factors: repos.secondFactors, secrets: totpSecretBox(config.keysDir), clock: io.clock ?? systemClock, issuer: config.brand.name, audit, actor: CLI_ACTOR })
  }
  user
    .command('totp')
    .description("a user's authenticator app (TOTP)")
    .command('add')
    .description('enrol an authenticator app for a user, confirmed at once; prints its secret and ten recovery codes, once')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print {"secret","otpauth_uri","recovery_codes"} as JSON')
    .action(async (opts: { username: string; json?: boolean }) => {
      const added = await withStore(io, (store) => addTotp({ users: repositories(store).users, factors: factorsOf(store) }, opts.username))
      const human = [
        `secret:      ${added.secret}`,
        `otpauth URI: ${added.otpauth_uri}`,
        'recovery codes (each works once; shown only now):',
        ...added.recovery_codes.map((code) => `  ${code}`),
      ].join('\n')
      print(opts.json, added, human)
    })

  const mfa = user.command('mfa').description("a user's second factors: authenticator app, passkeys, recovery codes")
  mfa
    .command('list')
    .description("show a user's second factors (never a secret or code)")
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print {"username","totp","passkeys","recovery_codes_left"} as JSON')
    .action(async (opts: { username: string; json?: boolean }) => {
      const view = await withStore(io, (store) => {
        const repos = repositories(store)
        return listFactors({ users: repos.users, factors: repos.secondFactors }, opts.username)
      })
      print(opts.json, view, factorLines(view))
    })
  mfa
    .command('reset')
    .description('remove every second factor of a user (app, passkeys, recovery codes), end their sessions and revoke their refresh tokens')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print {"removed":{"totp","passkeys","recovery_codes"},"sessions_ended":N,"refresh_token_families_revoked":N}')
    .action(async (opts: { username: string; json?: boolean }) => {
      const result = await withStore(io, (store) => {
        const repos = repositories(store)
        return resetFactors({ users: repos.users, factors: factorsOf(store), sessions: repos.sessions, grants: repos.grants, clock: io.clock ?? systemClock, audit: acting().audit, actor: CLI_ACTOR }, opts.username)
      })
      const { removed } = result
      print(opts.json, result, `removed: authenticator app ${removed.totp ? 'yes' : 'no'}, ${removed.passkeys} passkey(s), ${removed.recovery_codes} recovery code(s); ended ${result.sessions_ended} session(s); revoked ${result.refresh_token_families_revoked} refresh-token family(ies)`)
    })

  const grants = program.command('grants').description("a user's consents and refresh-token families")
  listOptions(grants.command('list').description('what a user has granted, by client').requiredOption('--username <username>', 'the user'), 'client_id or client name').action(
    async (opts: ListOpts & { username: string }) => {
      const page = await withStore(io, (store) => {
        const repos = repositories(store)
        return listGrants({ users: repos.users, grants: repos.grants }, opts.username, opts)
      })
      print(opts.json, page, pageLines(page, (g) => `${g.client_id}  ${g.client_name}  consents: ${g.consents.length}  refresh-token families: ${g.refresh_token_families.length}`))
    },
  )
  grants
    .command('revoke')
    .description("forget a user's consents and revoke their refresh tokens, for one client or all")
    .requiredOption('--username <username>', 'the user')
    .option('--client <client_id>', 'only this client')
    .option('--json', 'print {"revoked":{"consents","refresh_token_families"}}')
    .action(async (opts: { username: string; client?: string; json?: boolean }) => {
      const result = await withStore(io, (store) => {
        const repos = repositories(store)
        return revokeGrants({ users: repos.users, clients: repos.clients, grants: repos.grants, ...acting() }, opts.username, { clientId: opts.client })
      })
      print(opts.json, result, `revoked ${result.revoked.consents} consent(s) and ${result.revoked.refresh_token_families} refresh-token family(ies)`)
    })

  const sessions = program.command('sessions').description("a user's sign-in sessions")
  listOptions(sessions.command('list').description("a user's unexpired sign-in sessions").requiredOption('--username <username>', 'the user')).action(
    async (opts: ListOpts & { username: string }) => {
      const page = await withStore(io, (store) => {
        const repos = repositories(store)
        return listSessions({ users: repos.users, sessions: repos.sessions, clock: systemClock }, opts.username, opts)
      })
      print(opts.json, page, pageLines(page, (s) => `signed in ${s.auth_time}  expires ${s.expires_at}`))
    },
  )
  sessions
    .command('revoke')
    .description('sign a user out of every browser')
    .requiredOption('--username <username>', 'the user')
    .option('--json', 'print {"ended":N}')
    .action(async (opts: { username: string; json?: boolean }) => {
      const result = await withStore(io, (store) => {
        const repos = repositories(store)
        return revokeSessions({ users: repos.users, sessions: repos.sessions, ...acting() }, opts.username)
      })
      print(opts.json, result, `ended ${result.ended} session(s)`)
    })
}
