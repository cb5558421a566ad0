import type { Command } from 'commander'
import { addClient, listClients, removeClient, rotateSecret, showClient, updateClient, type ClientView } from '../admin/clients.js'
import { addScope, listScopes, removeScope } from '../admin/scopes.js'
import { systemClock } from '../clock.js'
import { loadConfig } from '../config.js'
import { BUILT_IN_GRANTS } from '../grants/index.js'
import { repositories } from '../storage/repositories.js'
import { CLI_ACTOR, collect, fieldLines, listOptions, pageLines, printer, stderrAudit, withStore, type CliIo, type ListOpts } from './io.js'

const clientLine = (client: ClientView) =>
  `${client.client_id}  ${client.name}${client.public ? '  (public)' : ''}${client.admin ? '  (admin)' : ''}${client.self_registered ? '  (self-registered)' : ''}${client.require_mfa ? '  (requires mfa)' : ''}`
const nonEmpty = (values: string[]): string[] | undefined => (values.length === 0 ? undefined : values)

/** `client …` (a client named by its client_id, the first argument) and `scope …`. */
export function clientCommands(program: Command, io: CliIo): void {
  const print = printer(io)
  const acting = () => ({ clock: systemClock, audit: stderrAudit(io), actor: CLI_ACTOR, issuer: loadConfig(io.env).issuer })
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
    .option('--admin', 'an admin API client: client_credentials with scope latchkey:admin for ISSUER/admin/v1')
    .option('--require-mfa', 'accept only a sign-in with two factors or a passkey (and refuse it the password grant)')
    .option('--json', 'print {"client_id","client_secret"} as JSON')
    .action(async (opts: { name: string; redirectUri: string[]; public?: boolean; grant: string[]; scope?: string; resource: string[]; audience?: string; postLogoutRedirectUri: string[]; admin?: boolean; requireMfa?: boolean; json?: boolean }) => {
      const added = await withStore(io, (store) => {
        const repos = repositories(store)
        return addClient(
          { clients: repos.clients, scopes: repos.scopes, ...acting() },
          {
            name: opts.name,
            redirectUris: opts.redirectUri,
            postLogoutRedirectUris: opts.postLogoutRedirectUri,
            isPublic: opts.public,
            grants: opts.grant,
            scope: opts.scope,
            audience: opts.audience,
            resources: opts.resource,
            admin: opts.admin,
            requireMfa: opts.requireMfa,
          },
        )
      })
      const human = added.client_secret === undefined
        ? `client_id: ${added.client_id}`
        : `client_id: ${added.client_id}\nclient_secret: ${added.client_secret}\n(the secret is shown only this once)`
      print(opts.json, added, human)
    })

  listOptions(client.command('list').description('list clients by client_id'), 'client_id or name').action(async (opts: ListOpts) => {
    const page = await withStore(io, (store) => listClients({ clients: repositories(store).clients, clock: systemClock }, opts))
    print(opts.json, page, pageLines(page, clientLine))
  })

  client
    .command('show')
    .description('show one client')
    .argument('<client_id>', 'the client')
    .option('--json', 'print the client as JSON')
    .action(async (clientId: string, opts: { json?: boolean }) => {
      const shown = await withStore(io, (store) => showClient({ clients: repositories(store).clients, clock: systemClock }, clientId))
      print(opts.json, shown, fieldLines(shown))
    })

  client
    .command('update')
    .description('change a client: each option given replaces what is registered (the rules of client add apply)')
    .argument('<client_id>', 'the client')
    .option('--name <name>', 'the name shown on the consent page')
    .option('--redirect-uri <uri>', 'the redirect URIs (repeatable)', collect, [])
    .option('--post-logout-redirect-uri <uri>', 'the post-logout redirect URIs (repeatable)', collect, [])
    .option('--no-post-logout-redirect-uris', 'remove every post-logout redirect URI')
    .option('--grant <grant_type>', 'the grants (repeatable)', collect, [])
    .option('--scope <scopes>', 'the space-separated scopes ("" for none)')
    .option('--resource <uri>', 'the audiences it may request (repeatable)', collect, [])
    .option('--no-resources', 'no registered audience: DEFAULT_AUDIENCE only')
    .option('--admin', 'make it an admin API client')
    .option('--no-admin', 'take the admin scope away')
    .option('--require-mfa', 'accept only a sign-in with two factors or a passkey')
    .option('--no-require-mfa', 'let MFA_REQUIRED alone decide')
    .option('--json', 'print the client as JSON')
    .action(async (clientId: string, opts: { name?: string; redirectUri: string[]; postLogoutRedirectUri: string[]; postLogoutRedirectUris: boolean; grant: string[]; scope?: string; resource: string[]; resources: boolean; admin?: boolean; requireMfa?: boolean; json?: boolean }) => {
      const updated = await withStore(io, (store) => {
        const repos = repositories(store)
        return updateClient({ clients: repos.clients, scopes: repos.scopes, ...acting() }, clientId, {
          name: opts.name,
          redirectUris: nonEmpty(opts.redirectUri),
          postLogoutRedirectUris: opts.postLogoutRedirectUris ? nonEmpty(opts.postLogoutRedirectUri) : [],
          grants: nonEmpty(opts.grant),
          scope: opts.scope,
          resources: opts.resources ? nonEmpty(opts.resource) : [],
          admin: opts.admin,
          requireMfa: opts.requireMfa,
        })
      })
      print(opts.json, updated, fieldLines(updated))
    })

  client
    .command('rotate-secret')
    .description('issue a new secret (shown once); the old one stops now, or after --grace seconds')
    .argument('<client_id>', 'the client')
    .option('--grace <seconds>', 'keep the old secret working this long (at most 30 days), so a deployment can roll')
    .option('--json', 'print {"client_id","client_secret","previous_secret_expires_at"}')
    .action(async (clientId: string, opts: { grace?: string; json?: boolean }) => {
      const rotated = await withStore(io, (store) => {
        const repos = repositories(store)
        return rotateSecret({ clients: repos.clients, scopes: repos.scopes, ...acting() }, clientId, { graceSeconds: opts.grace })
      })
      const until = rotated.previous_secret_expires_at === null ? 'the old secret no longer works' : `the old secret works until ${rotated.previous_secret_expires_at}`
      print(opts.json, rotated, `client_id: ${rotated.client_id}\nclient_secret: ${rotated.client_secret}\n(the secret is shown only this once; ${until})`)
    })

  client
    .command('remove')
    .description('delete a client: its tokens are revoked, its consents and codes deleted')
    .argument('<client_id>', 'the client')
    .option('--json', 'print {"client_id"}')
    .action(async (clientId: string, opts: { json?: boolean }) => {
      const removed = await withStore(io, (store) => removeClient({ clients: repositories(store).clients, ...acting() }, clientId))
      print(opts.json, removed, `removed client ${removed.client_id}`)
    })

  const scope = program.command('scope').description('manage scopes')
  scope
    .command('add')
    .description('add a scope, or update the description of an existing one')
    .argument('<name>', 'the scope name')
    .requiredOption('--description <text>', 'shown on the consent page')
    .option('--json', 'print {"name","description"} as JSON')
    .action(async (name: string, opts: { description: string; json?: boolean }) => {
      const added = await withStore(io, (store) => addScope({ scopes: repositories(store).scopes, ...acting() }, { name, description: opts.description }))
      print(opts.json, added, `scope ${added.name}: ${added.description}`)
    })
  listOptions(scope.command('list').description('list scopes by name'), 'name or description').action(async (opts: ListOpts) => {
    const page = await withStore(io, (store) => listScopes({ scopes: repositories(store).scopes }, opts))
    print(opts.json, page, pageLines(page, (s) => `${s.name}  ${s.description}`))
  })
  scope
    .command('remove')
    .description('remove a scope (refused while a client may request it)')
    .argument('<name>', 'the scope name')
    .option('--json', 'print {"name"}')
    .action(async (name: string, opts: { json?: boolean }) => {
      const removed = await withStore(io, (store) => {
        const repos = repositories(store)
        return removeScope({ scopes: repos.scopes, clients: repos.clients, ...acting() }, name)
      })
      print(opts.json, removed, `removed scope ${removed.name}`)
    })
}
