import type { Command } from 'commander'
import { createRegistrationToken, DEFAULT_REGISTRATION_TOKEN_SECONDS } from '../admin/registration-tokens.js'
import { systemClock } from '../clock.js'
import { loadConfig } from '../config.js'
import { repositories } from '../storage/repositories.js'
import { printer, stderrAudit, withStore, type CliIo } from './io.js'

/** `registration-token create`: an initial access token for dynamic registration (REGISTRATION=token). */
export function registrationCommands(program: Command, io: CliIo): void {
  const print = printer(io)
  program
    .command('registration-token')
    .description('initial access tokens for dynamic client registration (REGISTRATION=token)')
    .command('create')
    .description('make a single-use initial access token for POST /register; it is shown once')
    .option('--expires-in <seconds>', `how long it is valid (default ${DEFAULT_REGISTRATION_TOKEN_SECONDS}, at most 30 days)`)
    .option('--json', 'print {"token","expires_at"} as JSON')
    .action(async (opts: { expiresIn?: string; json?: boolean }) => {
      const config = loadConfig(io.env)
      const created = await withStore(io, (store) =>
        createRegistrationToken({ initialAccessTokens: repositories(store).initialAccessTokens, clock: io.clock ?? systemClock, audit: stderrAudit(io) }, { expiresIn: opts.expiresIn }),
      )
      if (config.registration.mode !== 'token') {
        io.stderr(`latchkey: note: REGISTRATION is ${config.registration.mode}, so the server does not ask for this token\n`)
      }
      print(opts.json, created, `token: ${created.token}\nexpires_at: ${created.expires_at}\n(the token is shown only this once; it registers one client)`)
    })
}
