import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { addClient } from '../../src/admin/clients.js'
import { addUser } from '../../src/admin/users.js'
import { buildApp } from '../../src/app.js'
import { systemClock } from '../../src/clock.js'
import { loadConfig } from '../../src/config.js'
import { repositories } from '../../src/storage/repositories.js'
import { hiddenInputs } from '../helpers/browser.js'
import { dialectOf, eachDialect } from '../helpers/db.js'
import { fixtureKeyStore } from '../helpers/keys.js'
import { newPkce } from '../helpers/oauth.js'
import { testPasswords } from '../helpers/passwords.js'
import { NO_AUDIT } from '../../src/audit.js'

eachDialect(t, (t) => {
  t.test('a public native client completes the code flow against a listening server', async (t) => {
    const config = loadConfig({ ISSUER: 'http://localhost:3000' })
    const store = await dialectOf(t).open(t)
    const keys = await fixtureKeyStore()
    const app = await buildApp(config, { store, keys, clock: systemClock, passwords: testPasswords })
    t.teardown(() => app.close())
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`

    const repos = repositories(store)
    const user = await addUser({ users: repos.users, passwords: testPasswords, clock: systemClock, audit: NO_AUDIT }, { username: 'carol', password: 'a long password' })
    const { client_id } = await addClient(
      { clients: repos.clients, scopes: repos.scopes, clock: systemClock, audit: NO_AUDIT },
      { name: 'CLI', isPublic: true, redirectUris: ['http://127.0.0.1:8080/cb'], scope: 'openid' },
    )
    const pkce = newPkce()
    const cookies = new Map<string, string>()
    const send = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${url}`, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      })
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const [name, value] = (pair ?? '').split('=')
        if (name && value !== undefined) cookies.set(name, value)
      }
      return res
    }
    const form = (fields: Record<string, string>): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })

    const query = new URLSearchParams({
      response_type: 'code',
      client_id,
      redirect_uri: 'http://127.0.0.1:49152/cb',
      state: 'e2e',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    })
    const loginPage = await send(`/authorize?${query}`)
    t.equal(loginPage.status, 200)
    t.equal(loginPage.headers.get('x-frame-options'), 'DENY')
    const consentPage = await send('/authorize/login', form({ ...hiddenInputs(await loginPage.text()), username: 'carol', password: 'a long password' }))
    t.equal(consentPage.status, 200)
    const done = await send('/authorize/consent', form({ ...hiddenInputs(await consentPage.text(), '/authorize/consent'), decision: 'allow' }))
    t.equal(done.status, 303)
    const location = new URL(done.headers.get('location') as string)
    t.equal(location.searchParams.get('state'), 'e2e')
    t.equal(location.searchParams.get('iss'), 'http://localhost:3000')

    const token = await fetch(`${base}/token`, form({
      grant_type: 'authorization_code',
      code: location.searchParams.get('code') as string,
      redirect_uri: 'http://127.0.0.1:49152/cb',
      client_id,
      code_verifier: pkce.verifier,
    }))
    t.equal(token.status, 200)
    t.equal(token.headers.get('cache-control'), 'no-store')
    const body = (await token.json()) as { access_token: string; scope: string; refresh_token: string }
    t.equal(body.scope, 'openid')
    t.type(body.refresh_token, 'string')
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
      issuer: 'http://localhost:3000',
      audience: 'http://localhost:4000',
      typ: 'at+jwt',
      algorithms: ['RS256'],
    })
    t.equal(protectedHeader.typ, 'at+jwt')
    t.equal(payload.sub, user.id)
    t.equal(payload.client_id, client_id)
  })
})
