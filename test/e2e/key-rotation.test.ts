import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { decodeProtectedHeader } from 'jose'
import { loadKeyStore } from '../../src/keys/key-store.js'
import { createResourceServer } from '../../src/resource-server/index.js'
import { runCli } from '../helpers/cli.js'
import { eachDialect, processDatabaseUrl } from '../helpers/db.js'
import { freePort } from '../helpers/server.js'
import { eventually, startServerProcess } from '../helpers/server-process.js'

const AUDIENCE = 'http://localhost:4000'
const PUBLISH_DELAY = 8

// Real publish delays, CLI processes and two servers, on both databases: about 60 s a dialect
// on a quiet machine, so .taprc's 120 s for the whole file left no room for a busy one.
t.setTimeout(300_000)

async function cliJson(t: Test, env: Record<string, string>, args: string[]) {
  const run = await runCli([...args, '--json'], { env })
  t.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`)
  return JSON.parse(run.stdout) as Record<string, string>
}

async function jwksKids(address: string): Promise<string[]> {
  const res = await fetch(`${address}/.well-known/jwks.json`)
  return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort()
}

eachDialect(t, (t) => {
  t.test('keys rotate and retire from another process while a server runs, checked by the resource-server module', async (t) => {
    const dir = t.testdir()
    const port = await freePort()
    const env = {
      DATABASE_URL: await processDatabaseUrl(t, join(dir, 'latchkey.sqlite')),
      KEYS_DIR: join(dir, 'keys'),
      ISSUER: `http://127.0.0.1:${port}`,
      KEY_PUBLISH_DELAY: String(PUBLISH_DELAY),
      KEY_ROTATION_DAYS: '0',
    }
    const server = await startServerProcess(t, { ...env, PORT: String(port) })
    const { address } = server
    const client = await cliJson(t, env, ['client', 'add', '--name', 'svc', '--grant', 'client_credentials'])
    const token = async () => {
      const res = await fetch(`${address}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      })
      const { access_token } = (await res.json()) as { access_token: string }
      return { token: access_token, kid: decodeProtectedHeader(access_token).kid as string }
    }
    const introspectActive = async (accessToken: string) => {
      const res = await fetch(`${address}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
        body: new URLSearchParams({ token: accessToken }).toString(),
      })
      return ((await res.json()) as { active: boolean }).active
    }
    // A resource server that caches the JWKS as latchkey's Cache-Control says.
    const rs = createResourceServer({ issuer: env.ISSUER, audience: AUDIENCE, jwksCooldownMs: 1000 })
    const jwksResponse = await fetch(`${address}/.well-known/jwks.json`)
    t.equal(jwksResponse.headers.get('cache-control'), `public, max-age=${PUBLISH_DELAY / 2}`)

    const before = await token()
    const a = before.kid
    await t.resolves(rs.verify(before.token), 'before the rotation')

    // keys rotate: published at once, signing after KEY_PUBLISH_DELAY.
    const rotated = await cliJson(t, env, ['keys', 'rotate'])
    t.same(Object.keys(rotated).sort(), ['alg', 'created_at', 'kid', 'signs_from', 'status'])
    t.match(rotated, { alg: 'RS256', status: 'next' })
    t.equal(Date.parse(rotated.signs_from!) - Date.parse(rotated.created_at!), PUBLISH_DELAY * 1000)
    const b = rotated.kid!
    const seenAfter = Date.now()
    await eventually('the new key in the JWKS', 5000, async () => ((await jwksKids(address)).includes(b) ? true : undefined))
    t.ok(Date.now() - seenAfter < 5000, 'published by the running server within 5 s')
    const during = await token()
    if (Date.now() < Date.parse(rotated.signs_from!)) t.equal(during.kid, a, 'during the delay the old key signs')
    await t.resolves(rs.verify(during.token), 'during the delay')

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(rotated.signs_from!) - Date.now() + 200)))
    const after = await token()
    t.equal(after.kid, b, 'after the delay the new key signs, with no restart')
    for (const [name, issued] of Object.entries({ before, during, after })) await t.resolves(rs.verify(issued.token), `${name}: verifies at the resource server`)

    // keys rotate --now: signs at once (an emergency); the resource server refetches on the unknown kid.
    const urgent = await cliJson(t, env, ['keys', 'rotate', '--now'])
    t.equal(urgent.status, 'current')
    const c = urgent.kid!
    const immediate = await eventually('a token signed by the --now key', 5000, async () => {
      const issued = await token()
      return issued.kid === c ? issued : undefined
    })
    await t.resolves(rs.verify(immediate.token), 'the --now key verifies at once')
    for (const issued of [before, during, after]) await t.resolves(rs.verify(issued.token), 'older tokens still verify')

    // keys retire: the --now key leaked.
    // `--`: a thumbprint kid may begin with '-', which would read as an option.
    const retiring = await runCli(['keys', 'retire', '--json', '--', c], { env })
    t.equal(retiring.code, 0, retiring.stderr)
    const retired = JSON.parse(retiring.stdout) as Record<string, string>
    t.match(retired, { kid: c, status: 'retired' })
    await eventually('the retired key gone from the JWKS', 5000, async () => ((await jwksKids(address)).includes(c) ? undefined : true))
    t.equal(await introspectActive(immediate.token), false, 'latchkey no longer accepts what the leaked key signed')
    t.equal(await introspectActive(after.token), true)
    const replaced = await token()
    t.equal(replaced.kid, b, 'the newest published key signs again')
    await t.resolves(rs.verify(replaced.token))
    await eventually('the resource server dropping the retired key', 15_000, async () => {
      await rs.verify(replaced.token)
      return rs.verify(immediate.token).then(() => undefined, () => true)
    })
    const listed = (await runCli(['keys', 'list', '--json'], { env })).stdout
    t.same(
      (JSON.parse(listed) as Array<{ kid: string; status: string }>).map((k) => [k.kid, k.status]),
      [[a, 'previous'], [b, 'current'], [c, 'retired']],
    )
    t.notMatch(server.output(), /key_file_ignored|keys_reload_refused|keys_watch_failed/, 'no reload trouble')
  })

  t.test('two servers on one KEYS_DIR: exactly one of them performs the scheduled rotation', async (t) => {
    const dir = t.testdir()
    const keysDir = join(dir, 'keys')
    // A key created 91 days ago: rotation is due at start.
    const ninetyOneDaysAgo = Date.now() - 91 * 86_400_000
    const old = (await loadKeyStore(keysDir, { clock: { now: () => ninetyOneDaysAgo } })).signingKey('RS256', Date.now()).kid
    const env = async (name: string) => ({ DATABASE_URL: await processDatabaseUrl(t, join(dir, `${name}.sqlite`)), KEYS_DIR: keysDir, KEY_ROTATION_DAYS: '90' })
    const [first, second] = await Promise.all([startServerProcess(t, await env('first')), startServerProcess(t, await env('second'))])
    const files = async () => (await readdir(keysDir)).filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    await eventually('the scheduled rotation', 10_000, async () => ((await files()).length >= 2 ? true : undefined))
    await new Promise((resolve) => setTimeout(resolve, 2500))
    t.equal((await files()).length, 2, 'one new key, not two')
    const rotations = [...first.events(), ...second.events()].filter((e) => e.event === 'key_rotated')
    t.equal(rotations.length, 1, 'one instance rotated')
    t.match(rotations[0], { audit: true, by: 'schedule', alg: 'RS256' })
    for (const server of [first, second]) {
      const kids = await jwksKids(server.address)
      t.equal(kids.length, 2, 'both instances publish the new key')
      t.ok(kids.includes(old))
    }
  })
})
