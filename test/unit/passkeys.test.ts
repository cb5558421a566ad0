import t from 'tap'
import type { AuditEvent } from '../../src/audit.js'
import { signInAddressLimit } from '../../src/accounts/failure-limits.js'
import { loginThrottle } from '../../src/accounts/login-throttle.js'
import { MAX_PASSKEYS_PER_USER, passkeyName, passkeyService, webauthnUserId } from '../../src/accounts/passkeys.js'
import type { PasskeyChallengeSlot } from '../../src/storage/passkey-challenges.js'
import { repositories } from '../../src/storage/repositories.js'
import { FakeClock } from '../helpers/clock.js'
import { sqliteCase } from '../helpers/db.js'
import { SoftAuthenticator } from '../helpers/webauthn.js'

const ISSUER = 'https://id.example.com'

function memorySlot(): PasskeyChallengeSlot {
  let value: string | null = null
  return {
    async set(challenge) {
      value = challenge
    },
    async take() {
      const taken = value
      value = null
      return taken
    },
  }
}

async function setUp(t: Parameters<typeof sqliteCase.open>[0]) {
  const store = await sqliteCase.open(t)
  const repos = repositories(store)
  const clock = new FakeClock()
  for (const [id, username] of [['u-alice', 'alice'], ['u-bob', 'bob']]) {
    await repos.users.create({ id: id as string, username: username as string, passwordHash: 'x', email: null, name: null, createdAt: clock.now() })
  }
  const service = passkeyService({
    issuer: ISSUER,
    rpName: 'Example ID',
    passkeys: repos.passkeys,
    users: repos.users,
    clock,
    addressLimit: signInAddressLimit({ counters: repos.failureCounters, clock, maxFailures: 100 }),
    throttle: loginThrottle({ attempts: repos.loginAttempts, clock }),
  })
  const events: AuditEvent[] = []
  const audit = { record: (e: AuditEvent) => void events.push(e) }
  const enrol = async (userId: string, username: string) => {
    const authenticator = new SoftAuthenticator(ISSUER)
    const slot = memorySlot()
    const options = await service.registrationOptions(slot, { id: userId, username, name: null })
    const result = await service.register(slot, { userId, response: authenticator.register(options), name: 'Key' })
    if (result.outcome !== 'ok') throw new Error(`registration: ${result.reason}`)
    return authenticator
  }
  return { repos, clock, service, events, audit, enrol }
}

t.test('the relying party comes from ISSUER', async (t) => {
  const { service } = await setUp(t)
  t.equal(service.rpId, 'id.example.com')
  const options = await service.registrationOptions(memorySlot(), { id: 'u-alice', username: 'alice', name: 'Alice A.' })
  t.same(options.rp, { name: 'Example ID', id: 'id.example.com' })
  t.same(options.user, { id: Buffer.from(webauthnUserId('u-alice')).toString('base64url'), name: 'alice', displayName: 'Alice A.' })
  t.equal(options.timeout, 300_000)
  t.equal(options.attestation, 'none')
})

t.test('the user handle is stable, opaque and per user', async (t) => {
  t.same(webauthnUserId('u-alice'), webauthnUserId('u-alice'))
  t.equal(webauthnUserId('u-alice').length, 32)
  t.notSame(webauthnUserId('u-alice'), webauthnUserId('u-bob'))
})

t.test('a passkey name is cleaned and bounded', async (t) => {
  t.equal(passkeyName('  My\tphone \n', 'Passkey'), 'My phone')
  t.equal(passkeyName('\u0000\u0007', 'Passkey'), 'Passkey')
  t.equal(passkeyName('é'.repeat(100), 'Passkey'), 'é'.repeat(64))
  t.equal(passkeyName('😀'.repeat(70), 'x'), '😀'.repeat(64), 'never half a character')
})

t.test('as the second factor: only the pending user\'s passkeys, counted like a code', async (t) => {
  const { service, events, audit, enrol, repos } = await setUp(t)
  const alice = await enrol('u-alice', 'alice')
  const bob = await enrol('u-bob', 'bob')

  const slot = memorySlot()
  const options = await service.authenticationOptions(slot, 'u-alice')
  t.same(options.allowCredentials?.map((c) => c.id), [alice.credentials[0]?.id], 'alice\'s passkeys only')
  t.equal(options.userVerification, 'required')

  const wrong = await service.authenticate(slot, { response: bob.assert(options), ip: '192.0.2.1', userId: 'u-alice' }, audit)
  t.same(wrong, { outcome: 'failed', reason: 'wrong_user' }, 'bob\'s passkey does not finish alice\'s sign-in')
  t.same(events.at(-1), { event: 'mfa_failed', userId: 'u-alice', method: 'passkey' })

  const again = memorySlot()
  const ok = await service.authenticate(again, { response: alice.assert(await service.authenticationOptions(again, 'u-alice'), { userHandle: null }), ip: '192.0.2.1', userId: 'u-alice' }, audit)
  t.equal(ok.outcome, 'ok', 'a user handle is optional when the user is known')
  t.equal(ok.outcome === 'ok' && ok.user.id, 'u-alice')
  t.notOk(events.some((e) => e.event === 'signin_succeeded'), 'the sign-in is not complete until the caller says so')

  // Five failures from one address lock alice's username there, as five wrong codes would.
  for (let i = 0; i < 5; i++) {
    const s = memorySlot()
    await service.authenticate(s, { response: alice.assert(await service.authenticationOptions(s, 'u-alice'), { origin: 'https://evil.example' }), ip: '192.0.2.1', userId: 'u-alice' }, audit)
  }
  t.ok(events.some((e) => e.event === 'signin_locked'), 'the lock is recorded')
  const s = memorySlot()
  const locked = await service.authenticate(s, { response: alice.assert(await service.authenticationOptions(s, 'u-alice')), ip: '192.0.2.1', userId: 'u-alice' }, audit)
  t.equal(locked.outcome, 'throttled', 'then even a good passkey is refused unchecked')
  t.equal((await repos.passkeys.listForUser('u-alice')).length, 1)
})

t.test('the transports an authenticator names are kept only when they look like transports', async (t) => {
  const { service, repos } = await setUp(t)
  const register = async (userId: string, transports: unknown) => {
    const slot = memorySlot()
    const options = await service.registrationOptions(slot, { id: userId, username: userId, name: null })
    const response = new SoftAuthenticator(ISSUER).register(options) as unknown as { response: Record<string, unknown> }
    if (transports === undefined) delete response.response.transports
    else response.response.transports = transports
    return service.register(slot, { userId, response, name: 'Key' })
  }
  const none = await register('u-alice', undefined)
  t.same(none.outcome === 'ok' && none.passkey.transports, [], 'none named: none kept')
  const odd = await register('u-bob', ['internal', 'x'.repeat(40)])
  t.same(odd.outcome === 'ok' && odd.passkey.transports, ['internal'], 'an over-long one is dropped')
  t.same((await repos.passkeys.listForUser('u-bob'))[0]?.transports, ['internal'])
})

t.test('a credential id longer than WebAuthn allows (1023 bytes) is refused, not stored', async (t) => {
  const { service, repos } = await setUp(t)
  for (const bytes of [1024, 1100]) {
    const slot = memorySlot()
    const options = await service.registrationOptions(slot, { id: 'u-alice', username: 'alice', name: null })
    const response = new SoftAuthenticator(ISSUER).register(options, { credentialIdBytes: bytes })
    t.same(await service.register(slot, { userId: 'u-alice', response, name: 'Key' }), { outcome: 'failed', reason: 'invalid' }, `${bytes} bytes`)
  }
  const slot = memorySlot()
  const options = await service.registrationOptions(slot, { id: 'u-alice', username: 'alice', name: null })
  const response = new SoftAuthenticator(ISSUER).register(options, { credentialIdBytes: 1023 })
  t.equal((await service.register(slot, { userId: 'u-alice', response, name: 'Key' })).outcome, 'ok', '1023 bytes is fine')
  t.equal((await repos.passkeys.listForUser('u-alice')).length, 1)
})

t.test('a removed user\'s pending sign-in fails', async (t) => {
  const { service, audit, enrol } = await setUp(t)
  const alice = await enrol('u-alice', 'alice')
  const slot = memorySlot()
  const options = await service.authenticationOptions(slot, 'u-alice')
  const res = await service.authenticate(slot, { response: alice.assert(options), ip: '192.0.2.1', userId: 'u-nobody' }, audit)
  t.same(res, { outcome: 'failed', reason: 'disabled' })
})

t.test('enrolment refuses a twenty-first passkey and a credential id already registered', async (t) => {
  const { service, repos, enrol } = await setUp(t)
  for (let i = 0; i < MAX_PASSKEYS_PER_USER; i++) await enrol('u-alice', 'alice')
  const slot = memorySlot()
  const options = await service.registrationOptions(slot, { id: 'u-alice', username: 'alice', name: null })
  const response = new SoftAuthenticator(ISSUER).register(options)
  t.same(await service.register(slot, { userId: 'u-alice', response, name: 'Key' }), { outcome: 'failed', reason: 'too_many' })
  t.equal((await repos.passkeys.listForUser('u-alice')).length, MAX_PASSKEYS_PER_USER, 'nothing added')

  // bob's new credential id is taken already (stored for alice): refused as a duplicate, alice's kept.
  const bobSlot = memorySlot()
  const bobOptions = await service.registrationOptions(bobSlot, { id: 'u-bob', username: 'bob', name: null })
  const bobResponse = new SoftAuthenticator(ISSUER).register(bobOptions)
  const existing = (await repos.passkeys.listForUser('u-alice'))[0]!
  await repos.passkeys.add({ ...existing, credentialId: bobResponse.id })
  t.same(await service.register(bobSlot, { userId: 'u-bob', response: bobResponse, name: 'Key' }), { outcome: 'failed', reason: 'duplicate' })
  t.equal((await repos.passkeys.listForUser('u-bob')).length, 0, 'bob has none')
  t.equal((await repos.passkeys.findByCredentialId(bobResponse.id))?.userId, 'u-alice')
})

t.test('an assertion without user verification fails and counts as a failure', async (t) => {
  const { service, events, audit, enrol } = await setUp(t)
  const alice = await enrol('u-alice', 'alice')
  const slot = memorySlot()
  const options = await service.authenticationOptions(slot, 'u-alice')
  const res = await service.authenticate(slot, { response: alice.assert(options, { userVerified: false }), ip: '192.0.2.1', userId: 'u-alice' }, audit)
  t.same(res, { outcome: 'failed', reason: 'invalid' })
  t.same(events.at(-1), { event: 'mfa_failed', userId: 'u-alice', method: 'passkey' })
})
