import type { Config } from './config.js'

const DEFAULT_DATABASE = 'db/latchkey.sqlite'

/**
 * The variables `latchkey demo` must share with the server so that what it creates and the file
 * it writes for the example app match this server: the same database, issuer and audience.
 * Values that are secrets (a PostgreSQL URL may hold a password) are never printed.
 */
function sharedEnvironment(config: Config): { prefix: string; note: string | undefined } {
  const vars: string[] = []
  let note: string | undefined
  if (config.issuer !== `http://localhost:${config.port}`) vars.push(`ISSUER=${config.issuer}`)
  else if (config.port !== 3000) vars.push(`PORT=${config.port}`)
  if (config.database.kind === 'postgres') note = 'with the same DATABASE_URL as the server'
  else if (config.database.path !== DEFAULT_DATABASE) vars.push(`DATABASE_URL=${shellWord(config.database.path)}`)
  if (config.defaultAudience !== 'http://localhost:4000') vars.push(`DEFAULT_AUDIENCE=${config.defaultAudience}`)
  return { prefix: vars.map((v) => `${v} `).join(''), note }
}

function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`
}

/**
 * What `npm start` prints on a database with no user and no client: where the server is, and
 * the one command that gives it something to sign in with. Plain text on stderr, apart from
 * the log lines on stdout, so a log collector reading stdout sees only JSON.
 */
export function firstRunHint(config: Config): string {
  const { prefix, note } = sharedEnvironment(config)
  return [
    '',
    'latchkey is running, with no users and no clients yet.',
    `  issuer:     ${config.issuer}`,
    `  discovery:  ${config.issuer}/.well-known/openid-configuration`,
    '',
    'To sign in to something, create a demo user and clients:',
    `  ${prefix}npx latchkey demo${note === undefined ? '' : `    (${note})`}`,
    ...(config.issuer === 'http://localhost:3000'
      ? ['then follow README "First run" (npm run resource-server, npm run example).']
      : [
          'then follow README "First run", telling the demo API where latchkey is:',
          `  ISSUER=${config.issuer} npm run resource-server`,
          '  npm run example    (it reads the issuer from the file the demo writes)',
        ]),
    '',
    '',
  ].join('\n')
}
