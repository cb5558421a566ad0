import t, { type Test } from 'tap'
import type { PasswordHasher } from '../../src/accounts/passwords.js'
import { buildApp } from '../../src/app.js'
import { NO_AUDIT } from '../../src/audit.js'
import { disableUser } from '../../src/admin/users.js'
import { loadConfig } from '../../src/config.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import { repositories } from '../../src/storage/repositories.js'
import type { TestApp } from '../helpers/app.js'
import { Browser } from '../helpers/browser.js'
import { FakeClock } from '../helpers/clock.js'
import { dialects, type DialectCase } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { basic, codeRequest, createClient, createUser, decide, exchange, obtainCode, PASSWORD, redirectParams, signIn } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'

/**
 * A hasher whose next verify, once armed, waits after the password was found right until
 * released: the window in which `user disable` lands while a sign-in is under way.
 */
function gatedPasswords() {
  let gate: { entered: () => void; release: Promise<void> } | undefined
  const hasher: PasswordHasher = {
    hash: (password) => testPasswords.hash(password),
    async verify(storedHash, password) {
      const ok = await testPasswords.verify(storedHash, password)
      const held = gate
      gate = undefined
      if (held) {
        held.entered()
        await held.release
      }
      return ok
    },
  }
  /** Arms the gate; `entered` resolves once a verify waits in it, `release` lets it go on. */
  const arm = () => {
    let entered!: () => void
    let release!: () => void
    const waiting = new Promise<void>((resolve) => (entered = resolve))
    gate = { entered: () => entered(), release: new Promise<void>((resolve) => (release = resolve)) }
    return { waiting, release: () => release() }
  }
  return { hasher, arm }
}

async function setup(t: Test, dialect: DialectCase) {
  const config = loadConfig({ ISSUER: 'http://localhost:3000' })
  const store = await dialect.open(t)
  const clock = new FakeClock()
  const gated = gatedPasswords()
  const app = await buildApp(config, { store, keys: await fixtureKeyStore(), clock, passwords: gated.hasher })
  t.teardown(() => app.close())
  const ctx: TestApp = { app, config, store, keys: await fixtureKeyStore(), clock, repos: repositories(store) }
  const user = await createUser(ctx)
  const disable = () => disableUser({ users: ctx.repos.users, clock, audit: NO_AUDIT, actor: 'cli' }, 'alice')
  const count = async (table: 'login_sessions' | 'authorization_codes' | 'refresh_token_families' | 'access_tokens') =>
    (await store.db.selectFrom(table).selectAll().execute()).length
  const liveFamilies = async () => (await store.db.selectFrom('refresh_token_families').selectAll().where('revoked_at', 'is', null).execute()).length
  // Only the flag, as a disable whose revocation ran before the sign-in wrote anything.
  const flagDisabled = () => store.db.updateTable('users').set({ disabled_at: clock.now() }).where('id', '=', user.id).execute()
  return { ctx, user, gate: gated.arm, disable, count, liveFamilies, flagDisabled }
}

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: a disable while the login page checks the password leaves no session, code or tokens`, async (t) => {
    const s = await setup(t, dialect)
    const client = await createClient(s.ctx, { grants: ['authorization_code', 'refresh_token'], scope: 'openid' })
    const browser = new Browser(s.ctx.app)
    const { url } = codeRequest(client, { scope: 'openid' })
    const page = await browser.get(url)
    const gate = s.gate()
    const signingIn = signIn(browser, page)
    await gate.waiting
    await s.disable()
    gate.release()
    const res = await signingIn
    t.equal(res.statusCode, 401, 'refused as a wrong password is')
    t.match(res.body, 'name="password"', 'the login form again')
    t.equal(await s.count('login_sessions'), 0, 'no session was stored')
    const again = await browser.get(url)
    t.match(again.body, 'name="password"', 'the browser is not signed in')
    const silent = await browser.get(codeRequest(client, { scope: 'openid', prompt: 'none' }).url)
    t.equal(redirectParams(silent).get('error'), 'login_required')
    t.equal(await s.count('authorization_codes'), 0)
    t.equal(await s.count('refresh_token_families'), 0)
  })

  t.test(`${dialect.name}: a session or code left by a sign-in that raced the disable gives nothing`, async (t) => {
    const s = await setup(t, dialect)
    const client = await createClient(s.ctx, { grants: ['authorization_code', 'refresh_token'], scope: 'openid' })
    const browser = new Browser(s.ctx.app)
    const { url } = codeRequest(client, { scope: 'openid' })
    const consentPage = await signIn(browser, await browser.get(url))
    t.equal(consentPage.statusCode, 200, 'signed in, at the consent page')
    t.match(consentPage.body, 'action="/authorize/consent"')
    await s.flagDisabled()
    // The session is ignored: a new request asks for the password, a silent one is refused.
    t.match((await browser.get(url)).body, 'name="password"')
    t.equal(redirectParams(await browser.get(codeRequest(client, { scope: 'openid', prompt: 'none' }).url)).get('error'), 'login_required')
    // The consent page shown before is refused too: its sign-in no longer counts.
    const decided = await decide(browser, consentPage, 'allow')
    t.equal(decided.statusCode, 400)
    t.equal(decided.headers.location, undefined, 'no code')
    t.equal(await s.count('authorization_codes'), 0)
    t.equal(await s.count('access_tokens'), 0)
    t.equal(await s.count('refresh_token_families'), 0)

    // Running disable again cleans up what the race left.
    t.equal(await s.count('login_sessions'), 1, 'the raced session row is still there')
    const view = await s.disable()
    t.equal(view.disabled, true)
    t.equal(await s.count('login_sessions'), 0, 'a second disable ends it')
  })

  t.test(`${dialect.name}: a refresh or a code of a user disabled after the checks is invalid_grant`, async (t) => {
    const s = await setup(t, dialect)
    const client = await createClient(s.ctx, { grants: ['authorization_code', 'refresh_token'], scope: 'openid' })
    const auth = { authorization: basic(client.client_id, client.client_secret as string) }
    const first = await obtainCode(s.ctx, client, { scope: 'openid' })
    const tokens = (await exchange(s.ctx.app, { grant_type: 'authorization_code', code: first.code, redirect_uri: client.redirectUri, code_verifier: first.verifier }, auth)).json()
    t.type(tokens.refresh_token, 'string')
    const second = await obtainCode(s.ctx, client, { scope: 'openid' }, first.browser)
    await s.flagDisabled()
    const refreshed = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, auth)
    t.equal(refreshed.statusCode, 400)
    t.equal(refreshed.json().error, 'invalid_grant')
    t.equal((await s.ctx.repos.refreshTokens.findByHash(sha256Hex(tokens.refresh_token)))?.rotatedAt, null, 'nothing rotated')
    const exchanged = await exchange(s.ctx.app, { grant_type: 'authorization_code', code: second.code, redirect_uri: client.redirectUri, code_verifier: second.verifier }, auth)
    t.equal(exchanged.statusCode, 400)
    t.equal(exchanged.json().error, 'invalid_grant')
    t.equal(await s.count('access_tokens'), 1, 'only the token issued before')

    // A repeated disable revokes the family the first left behind (here: never revoked).
    t.equal(await s.liveFamilies(), 1)
    await s.disable()
    t.equal(await s.liveFamilies(), 0)
    const after = await exchange(s.ctx.app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, auth)
    t.equal(after.json().error, 'invalid_grant')
  })

  t.test(`${dialect.name}: a disable while the password grant checks the password issues nothing`, async (t) => {
    const s = await setup(t, dialect)
    for (const grants of [['password', 'refresh_token'], ['password']]) {
      const client = await createClient(s.ctx, { grants, scope: 'openid' })
      const auth = { authorization: basic(client.client_id, client.client_secret as string) }
      await s.ctx.store.db.updateTable('users').set({ disabled_at: null }).where('id', '=', s.user.id).execute()
      const gate = s.gate()
      const asking = exchange(s.ctx.app, { grant_type: 'password', username: 'alice', password: PASSWORD }, auth)
      await gate.waiting
      await s.disable()
      gate.release()
      const res = await asking
      t.equal(res.statusCode, 400, grants.join(' '))
      t.equal(res.json().error, 'invalid_grant')
      t.equal(await s.count('refresh_token_families'), 0)
      t.equal(await s.count('access_tokens'), 0)
    }
  })
}
