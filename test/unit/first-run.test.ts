import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { firstRunHint } from '../../src/first-run.js'
import { isUnconfigured } from '../../src/storage/first-run.js'
import { sqliteCase } from '../helpers/db.js'

t.test('the hint names the issuer, the discovery URL and npx latchkey demo', async (t) => {
  const hint = firstRunHint(loadConfig({}))
  t.match(hint, 'issuer:     http://localhost:3000\n')
  t.match(hint, 'discovery:  http://localhost:3000/.well-known/openid-configuration\n')
  t.match(hint, '\n  npx latchkey demo\n', 'no variables when everything is default')
})

t.test('the demo command carries what it must share with the server, never a secret', async (t) => {
  t.match(firstRunHint(loadConfig({ PORT: '3100' })), '\n  PORT=3100 npx latchkey demo\n')
  t.match(firstRunHint(loadConfig({ ISSUER: 'https://auth.example.com' })), '\n  ISSUER=https://auth.example.com npx latchkey demo\n')
  t.match(firstRunHint(loadConfig({ DATABASE_URL: "/srv/my db/it's.sqlite", DEFAULT_AUDIENCE: 'https://api.example.com' })), `\n  DATABASE_URL='/srv/my db/it'\\''s.sqlite' DEFAULT_AUDIENCE=https://api.example.com npx latchkey demo\n`)
  const postgres = firstRunHint(loadConfig({ DATABASE_URL: 'postgres://latchkey:hunter2@db/latchkey' }))
  t.notMatch(postgres, 'hunter2', 'a database password is never printed')
  t.match(postgres, 'npx latchkey demo    (with the same DATABASE_URL as the server)')
})

t.test('a database is unconfigured until it has a user or a client', async (t) => {
  const store = await sqliteCase.open(t)
  t.equal(await isUnconfigured(store.db), true)
  await store.db.insertInto('clients').values({ id: 'lk_x', name: 'x', secret_hash: null, is_public: 1, redirect_uris: '[]', post_logout_redirect_uris: '[]', grant_types: '[]', scopes: '[]', audience: null, resources: '[]', created_at: 0 } as never).execute()
  t.equal(await isUnconfigured(store.db), false, 'a client')
  await store.db.deleteFrom('clients').execute()
  await store.db.insertInto('users').values({ id: 'u', username: 'u', password_hash: 'x', email: null, name: null, created_at: 0 } as never).execute()
  t.equal(await isUnconfigured(store.db), false, 'a user')
})

t.test('on another port the hint tells the demo API where latchkey is', async (t) => {
  const hint = firstRunHint(loadConfig({ PORT: '3100' }))
  t.match(hint, 'PORT=3100 npx latchkey demo')
  t.match(hint, 'ISSUER=http://localhost:3100 npm run resource-server')
  t.notMatch(firstRunHint(loadConfig({})), 'ISSUER=', 'the defaults need no variable')
  t.equal(loadConfig({ PORT: '80' }).issuer, 'http://localhost', 'PORT=80: the origin has no port')
})
