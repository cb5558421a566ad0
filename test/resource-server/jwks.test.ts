import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { BearerError, createResourceServer } from '../../src/resource-server/index.js'
import { metadataUrl } from '../../src/resource-server/metadata.js'
import { createSigningKey, refusedUrl, signToken, startFixtureIssuer, type FixtureIssuer } from './fixture-issuer.js'
import { assertAccepted, assertRefused, getWithToken, manualClock, protectedApp } from './harness.js'

const COOLDOWN = 30_000
const unknownKey = await createSigningKey('not-published')

async function fixture(t: Test): Promise<FixtureIssuer> {
  const issuer = await startFixtureIssuer()
  t.teardown(() => issuer.close())
  return issuer
}

/** A token signed by an unpublished key, with any kid. */
function unknownKidToken(issuer: FixtureIssuer, kid = 'not-published'): Promise<string> {
  return signToken(unknownKey, { iss: issuer.issuer, aud: issuer.audience, sub: 'x', client_id: 'x', jti: kid, iat: 1, exp: 4e9 }, { kid })
}

const unknownKid = (issuer: FixtureIssuer) => ({
  status: 401 as const,
  realm: issuer.audience,
  error: 'invalid_token',
  description: 'token is signed with an unknown key',
})
const unavailable = (issuer: FixtureIssuer) => ({
  status: 503 as const,
  realm: issuer.audience,
  description: "the issuer's signing keys could not be loaded",
})

t.test('refetches once on an unknown kid and accepts the key the issuer rotated in', async (t) => {
  const issuer = await fixture(t)
  const clock = manualClock()
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.strictSame(issuer.counts, { metadata: 1, jwks: 1, introspect: 0 }, 'metadata and keys loaded once')

  await issuer.addKey({ makeCurrent: true })
  clock.advance(COOLDOWN + 1)
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.equal(issuer.counts.jwks, 2, 'exactly one refetch')
  t.equal(issuer.counts.metadata, 1, 'the metadata is not read again')
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.equal(issuer.counts.jwks, 2, 'the new key is cached')
})

t.test('a flood of 50 unknown kids causes at most one refetch within the cooldown', async (t) => {
  const issuer = await fixture(t)
  const clock = manualClock()
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  clock.advance(COOLDOWN + 1)

  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => unknownKidToken(issuer, `bad-${i}`)))
  const responses = await Promise.all(tokens.map((token) => getWithToken(app, token)))
  t.ok(responses.every((response) => response.statusCode === 401), 'all concurrent ones refused')
  t.equal(issuer.counts.jwks, 2, 'concurrent misses share one fetch')
  for (const token of tokens) assertRefused(t, await getWithToken(app, token), unknownKid(issuer))
  t.equal(issuer.counts.jwks, 2, 'no more fetches within the cooldown')
})

t.test('allows another refetch once the cooldown has passed', async (t) => {
  const issuer = await fixture(t)
  const clock = manualClock()
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now, jwksCooldownMs: 1000 })
  const token = await unknownKidToken(issuer)
  assertRefused(t, await getWithToken(app, token), unknownKid(issuer))
  clock.advance(999)
  assertRefused(t, await getWithToken(app, token), unknownKid(issuer))
  t.equal(issuer.counts.jwks, 1, 'not before the cooldown')
  clock.advance(1)
  assertRefused(t, await getWithToken(app, token), unknownKid(issuer))
  t.equal(issuer.counts.jwks, 2, 'one more after it')
})

for (const down of ['closed', 'answering 500'] as const) {
  t.test(`issuer ${down} after keys were loaded: 401 for an unknown kid, 200 for a known one`, async (t) => {
    const issuer = await fixture(t)
    const clock = manualClock()
    const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now })
    const known = await issuer.sign()
    assertAccepted(t, await getWithToken(app, known))

    if (down === 'closed') await issuer.close()
    else issuer.mode = 'error'
    clock.advance(COOLDOWN + 1)
    assertRefused(t, await getWithToken(app, await unknownKidToken(issuer)), unknownKid(issuer))
    assertAccepted(t, await getWithToken(app, known))
    if (down === 'closed') return

    // A failed JWKS fetch forgets the metadata, in case the jwks_uri moved.
    t.equal(issuer.counts.metadata, 1)
    issuer.mode = 'up'
    clock.advance(COOLDOWN + 1)
    assertRefused(t, await getWithToken(app, await unknownKidToken(issuer)), unknownKid(issuer))
    t.equal(issuer.counts.metadata, 2, 'metadata read again')
  })
}

t.test('issuer unreachable from the start: 503 temporarily_unavailable', async (t) => {
  const url = await refusedUrl()
  const { app, rs } = await protectedApp(t, { issuer: url, audience: 'https://api.example.test' })
  const issuer = { issuer: url, audience: 'https://api.example.test' } as FixtureIssuer
  const token = await unknownKidToken(issuer)
  assertRefused(t, await getWithToken(app, token), unavailable(issuer))
  await t.rejects(rs.verify(token), { status: 503, code: 'temporarily_unavailable' })
})

t.test('issuer answering 500 from the start: 503, then retried only after the cooldown', async (t) => {
  const issuer = await fixture(t)
  issuer.mode = 'error'
  const clock = manualClock()
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now })
  const token = await issuer.sign()
  assertRefused(t, await getWithToken(app, token), unavailable(issuer))
  issuer.mode = 'up'
  assertRefused(t, await getWithToken(app, token), unavailable(issuer))
  t.strictSame(issuer.counts, { metadata: 1, jwks: 0, introspect: 0 }, 'one attempt per cooldown')
  clock.advance(COOLDOWN)
  assertAccepted(t, await getWithToken(app, token))
})

t.test('a hung issuer times out into a 503', async (t) => {
  const issuer = await fixture(t)
  issuer.delayMs = 2000
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, fetchTimeoutMs: 100 })
  const started = Date.now()
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
  t.ok(Date.now() - started < 1500, 'did not wait for the issuer')
})

t.test('metadata naming another issuer: keys are not loaded (503)', async (t) => {
  const issuer = await fixture(t)
  issuer.metadataPatch = { issuer: `${issuer.issuer}/` }
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience })
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
  t.equal(issuer.counts.jwks, 0, 'the JWKS it names is never fetched')
})

t.test('metadata without a usable jwks_uri, or not an object: 503', async (t) => {
  const issuer = await fixture(t)
  const token = await issuer.sign()
  for (const [patch, raw] of [[{ jwks_uri: undefined }], [{ jwks_uri: 'file:///etc/passwd' }], [{ jwks_uri: 'not a url' }], [{}, [1, 2]], [{}, null]] as const) {
    issuer.metadataPatch = patch
    issuer.rawMetadata = raw
    const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience })
    assertRefused(t, await getWithToken(app, token), unavailable(issuer))
  }
  t.equal(issuer.counts.jwks, 0)
})

t.test('a JWKS without a keys array: 503', async (t) => {
  const issuer = await fixture(t)
  // The metadata document is JSON but no JWKS.
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, jwksUri: metadataUrl(issuer.issuer) })
  assertRefused(t, await getWithToken(app, await issuer.sign()), unavailable(issuer))
})

t.test('ignores published keys that are not RS256 signature keys', async (t) => {
  const issuer = await fixture(t)
  const enc = await createSigningKey('enc')
  const ps = await createSigningKey('ps256')
  issuer.extraJwks = [
    { ...enc.publicJwk, use: 'enc' },
    { ...ps.publicJwk, alg: 'PS256' },
    { kty: 'EC', kid: 'ec', crv: 'P-256', x: 'AA', y: 'AA' },
    { kty: 'oct', kid: 'oct', k: 'c2VjcmV0' },
    { kty: 'RSA', kid: 'broken', n: '', e: '' },
    { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak' },
    { ...(await createSigningKey()).publicJwk, kid: undefined },
    null,
  ]
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience })
  assertAccepted(t, await getWithToken(app, await issuer.sign()), {}) // the good key still works
  for (const key of [enc, ps]) {
    assertRefused(t, await getWithToken(app, await issuer.signWith(key)), unknownKid(issuer))
  }
  for (const kid of ['broken', 'weak']) {
    assertRefused(t, await getWithToken(app, await issuer.sign({}, { kid })), unknownKid(issuer))
  }
})

t.test('uses jwksUri without reading the metadata', async (t) => {
  const issuer = await fixture(t)
  const jwksUri = `${issuer.issuer}/.well-known/jwks.json`
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, jwksUri })
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.strictSame(issuer.counts, { metadata: 0, jwks: 1, introspect: 0 })
})

t.test('concurrent first requests share one fetch', async (t) => {
  const issuer = await fixture(t)
  const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience })
  const tokens = await Promise.all(Array.from({ length: 20 }, () => issuer.sign()))
  const responses = await Promise.all(tokens.map((token) => getWithToken(app, token)))
  t.ok(responses.every((response) => response.statusCode === 200), 'all accepted')
  t.strictSame(issuer.counts, { metadata: 1, jwks: 1, introspect: 0 })
})

t.test('refetches keys older than jwksMaxAgeMs in the background, dropping withdrawn ones', async (t) => {
  const issuer = await fixture(t)
  const clock = manualClock()
  const { app } = await protectedApp(t, {
    issuer: issuer.issuer,
    audience: issuer.audience,
    clock: clock.now,
    jwksMaxAgeMs: 60_000,
  })
  const old = await issuer.sign()
  assertAccepted(t, await getWithToken(app, old))
  const withdrawn = issuer.current.kid
  await issuer.addKey({ makeCurrent: true })
  issuer.removeKey(withdrawn)

  clock.advance(60_001)
  // Still served from the cache; starts the refetch.
  assertAccepted(t, await getWithToken(app, old))
  // The new kid is not cached yet: this waits for the refetch in flight.
  assertAccepted(t, await getWithToken(app, await issuer.sign()))
  t.equal(issuer.counts.jwks, 2)
  assertRefused(t, await getWithToken(app, old), unknownKid(issuer))
})

t.test("honours the JWKS response's Cache-Control: a shorter max-age brings the background refetch forward", async (t) => {
  const cases: Array<[string | undefined, number]> = [
    ['public, max-age=300', 300_000],
    ['max-age="120", must-revalidate', 120_000],
    ['no-cache', 0],
    ['no-store', 0],
    ['public, max-age=3600', 600_000],
    [undefined, 600_000],
    ['public', 600_000],
  ]
  for (const [cacheControl, freshForMs] of cases) {
    const issuer = await fixture(t)
    issuer.jwksCacheControl = cacheControl
    const clock = manualClock()
    const { app } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: clock.now, jwksCooldownMs: 0, jwksMaxAgeMs: 600_000 })
    const token = await issuer.sign({ exp: Math.floor(clock.now() / 1000) + 7200 })
    assertAccepted(t, await getWithToken(app, token))
    t.equal(issuer.counts.jwks, 1)
    clock.advance(freshForMs)
    assertAccepted(t, await getWithToken(app, token))
    t.equal(issuer.counts.jwks, 1, `${cacheControl}: fresh for ${freshForMs} ms`)
    clock.advance(1)
    assertAccepted(t, await getWithToken(app, token))
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(issuer.counts.jwks, 2, `${cacheControl}: refetched in the background after ${freshForMs} ms, capped by jwksMaxAgeMs`)
  }
})

t.test('ready() loads the keys, or rejects with a 503 BearerError', async (t) => {
  const issuer = await fixture(t)
  const rs = createResourceServer({ issuer: issuer.issuer, audience: issuer.audience })
  await rs.ready()
  await rs.ready()
  t.equal(issuer.counts.jwks, 1)
  const down = createResourceServer({ issuer: await refusedUrl(), audience: issuer.audience })
  const error = await down.ready().then(
    () => undefined,
    (error: unknown) => error,
  )
  t.ok(error instanceof BearerError)
  t.match(error, { status: 503, code: 'temporarily_unavailable' })
  t.ok((error as BearerError).cause instanceof Error, 'the cause is kept for logs')
})

t.test('rejects bad options at creation', async (t) => {
  const audience = 'https://api.example.test'
  t.throws(() => createResourceServer({ issuer: 'not a url', audience }), TypeError)
  t.throws(() => createResourceServer({ issuer: 'http://127.0.0.1', audience: '' }), TypeError)
  t.throws(() => createResourceServer({ issuer: 'http://127.0.0.1', audience, jwksUri: 'nope' }), TypeError)
  t.throws(() => createResourceServer({ issuer: 'http://127.0.0.1', audience, clockTolerance: -1 }), TypeError)
  t.throws(() => createResourceServer({ issuer: 'http://127.0.0.1', audience, jwksCooldownMs: Number.NaN }), TypeError)
})

t.test('puts the well-known segment before the issuer path (RFC 8414 §3.1)', async (t) => {
  t.equal(metadataUrl('https://id.example'), 'https://id.example/.well-known/oauth-authorization-server')
  t.equal(metadataUrl('https://id.example/tenant'), 'https://id.example/.well-known/oauth-authorization-server/tenant')
})

t.test('a clock that throws: verify rejects (a promise, never a throw) and the route answers 500, not 401', async (t) => {
  const issuer = await fixture(t)
  const broken = () => {
    throw new Error('clock broken')
  }
  const { app, rs } = await protectedApp(t, { issuer: issuer.issuer, audience: issuer.audience, clock: broken })
  const token = await unknownKidToken(issuer)
  let pending: Promise<unknown> | undefined
  t.doesNotThrow(() => {
    pending = rs.verify(token)
  })
  await t.rejects(pending!, { message: 'clock broken' })
  t.equal((await getWithToken(app, token)).statusCode, 500)
})
