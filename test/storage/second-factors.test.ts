import t from 'tap'
import { normalizeRecoveryCode, secondFactors, totpCode, totpStep } from '../../src/accounts/totp.js'
import { keySecretBox } from '../../src/keys/secret-box.js'
import { eachDialect } from '../helpers/db.js'
import { addUser, totpFixture } from '../helpers/totp.js'

const codeAt = (secret: string, ms: number) => totpCode(secret, totpStep(ms))

eachDialect(t, async (t, dialect) => {
  t.test('enrolment: begin, confirm with a first code, ten recovery codes; the first code is not accepted again', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock, events, repos } = totpFixture(store)
    const userId = await addUser(store)
    t.same(await factors.status(userId), { totp: false, passkeys: 0, recoveryCodesLeft: 0 })
    const started = await factors.beginTotp(userId, 'alice')
    t.ok(started)
    t.match(started!.secret, /^[A-Z2-7]{32}$/, '160 bits in base32')
    const uri = new URL(started!.otpauthUri)
    t.equal(uri.protocol, 'otpauth:')
    t.equal(uri.host, 'totp')
    t.equal(decodeURIComponent(uri.pathname), '/Example Co:alice')
    t.equal(uri.searchParams.get('issuer'), 'Example Co')
    t.equal(uri.searchParams.get('secret'), started!.secret)
    t.equal(uri.searchParams.get('algorithm'), 'SHA1')
    t.equal(uri.searchParams.get('digits'), '6')
    t.equal(uri.searchParams.get('period'), '30')
    t.equal(await factors.hasFactor(userId), false, 'unconfirmed is no factor')
    t.equal(await factors.verifyTotp(userId, codeAt(started!.secret, clock.now())), false, 'an unconfirmed secret signs nobody in')

    // Restarting replaces the unconfirmed secret: the old one's codes no longer confirm.
    const again = await factors.beginTotp(userId, 'alice')
    t.not(again!.secret, started!.secret)
    t.equal(await factors.confirmTotp(userId, codeAt(started!.secret, clock.now())), undefined)
    t.equal(await factors.confirmTotp(userId, '000000x'), undefined)
    const confirmed = await factors.confirmTotp(userId, codeAt(again!.secret, clock.now()))
    t.equal(confirmed?.recoveryCodes.length, 10)
    for (const code of confirmed!.recoveryCodes) t.match(code, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/)
    t.equal(new Set(confirmed!.recoveryCodes).size, 10)
    t.same(await factors.status(userId), { totp: true, passkeys: 0, recoveryCodesLeft: 10 })
    t.equal(await factors.hasFactor(userId), true)
    t.same(events, [{ event: 'mfa_enrolled', userId, method: 'totp' }])
    t.equal(await factors.verifyTotp(userId, codeAt(again!.secret, clock.now())), false, 'the confirming code cannot be replayed at sign-in')
    t.equal(await factors.beginTotp(userId, 'alice'), undefined, 'no new enrolment over a confirmed app')
    t.equal(await factors.confirmTotp(userId, codeAt(again!.secret, clock.now() + 30_000)), undefined, 'nothing left to confirm')

    // Stored sealed: the row holds neither the secret nor its base32 text.
    const row = await store.db.selectFrom('totp_factors').selectAll().executeTakeFirstOrThrow()
    t.match(row.secret, /^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/)
    t.notMatch(row.secret, again!.secret)
    const hashes = await store.db.selectFrom('recovery_codes').select('code_hash').execute()
    t.equal(hashes.length, 10)
    for (const { code_hash } of hashes) t.match(code_hash, /^[0-9a-f]{64}$/)
    for (const code of confirmed!.recoveryCodes) t.notOk(hashes.some((h) => h.code_hash.includes(code.replace(/-/g, ''))))
    t.equal((await repos.secondFactors.findTotp(userId))?.lastStep, Math.floor(clock.now() / 30_000))
  })

  t.test('an enrolment older than a day no longer confirms', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock } = totpFixture(store)
    const userId = await addUser(store)
    const started = await factors.beginTotp(userId, 'alice')
    clock.advance(86_400)
    t.equal(await factors.confirmTotp(userId, codeAt(started!.secret, clock.now())), undefined)
  })

  t.test('sign-in codes: ±1 step, each step once, never an older step than the last', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock } = totpFixture(store)
    const userId = await addUser(store)
    const { secret } = (await factors.addConfirmedTotp(userId, 'alice'))!
    clock.advance(300)
    const now = clock.now()
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now - 60_000)), false, 'two steps back: outside the window')
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now + 60_000)), false, 'two steps ahead: outside the window')
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now - 30_000)), true, 'one step back')
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now - 30_000)), false, 'the same code again: a replay')
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now + 30_000)), true, 'one step ahead')
    t.equal(await factors.verifyTotp(userId, codeAt(secret, now)), false, 'an older step after a newer one')
    clock.advance(60)
    const next = codeAt(secret, clock.now())
    t.equal(await factors.verifyTotp(userId, ` ${next.slice(0, 3)} ${next.slice(3)} `), true, 'spaces are ignored')
    clock.advance(30)
    for (const bad of ['', '12345', '1234567', 'abcdef', '１２３４５６', '٠١٢٣٤٥']) t.equal(await factors.verifyTotp(userId, bad), false, `refused: ${JSON.stringify(bad)}`)
    const other = await addUser(store, 'bob')
    t.equal(await factors.verifyTotp(other, codeAt(secret, clock.now())), false, 'no app, nothing accepted')
  })

  t.test('two concurrent checks of one code: exactly one is accepted', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock } = totpFixture(store)
    const userId = await addUser(store)
    const { secret } = (await factors.addConfirmedTotp(userId, 'alice'))!
    for (let round = 0; round < 5; round++) {
      clock.advance(30)
      const code = codeAt(secret, clock.now())
      const results = await Promise.all(Array.from({ length: 4 }, () => factors.verifyTotp(userId, code)))
      t.equal(results.filter(Boolean).length, 1, `round ${round}: ${results.join(',')}`)
    }
  })

  t.test('recovery codes: once each, any case, with or without hyphens; regenerating replaces them', async (t) => {
    const store = await dialect.open(t)
    const { factors, events } = totpFixture(store)
    const userId = await addUser(store)
    const bob = await addUser(store, 'bob')
    t.equal(await factors.regenerateRecoveryCodes(userId), undefined, 'no factor, no codes')
    const { recoveryCodes: codes } = (await factors.addConfirmedTotp(userId, 'alice'))!
    events.length = 0
    t.equal(await factors.useRecoveryCode(bob, codes[0]!), false, "another user's code")
    t.equal(await factors.useRecoveryCode(userId, codes[0]!), true)
    t.equal(await factors.useRecoveryCode(userId, codes[0]!), false, 'used twice')
    t.equal(await factors.useRecoveryCode(userId, codes[1]!.toUpperCase().replace(/-/g, '')), true, 'upper case, no hyphens')
    t.equal(await factors.useRecoveryCode(userId, ` ${codes[2]!.replace(/-/g, ' ')} `), true, 'spaces')
    const concurrent = await Promise.all([factors.useRecoveryCode(userId, codes[3]!), factors.useRecoveryCode(userId, codes[3]!)])
    t.same(concurrent.filter(Boolean).length, 1, 'two at once: one wins')
    for (const bad of ['', 'nope', codes[4]!.slice(0, -1), 'x'.repeat(100), `${codes[4]!}0`]) t.equal(await factors.useRecoveryCode(userId, bad), false)
    t.same(events, [
      { event: 'recovery_code_used', userId, left: 9 },
      { event: 'recovery_code_used', userId, left: 8 },
      { event: 'recovery_code_used', userId, left: 7 },
      { event: 'recovery_code_used', userId, left: 6 },
    ])
    t.equal((await factors.status(userId)).recoveryCodesLeft, 6)

    const fresh = await factors.regenerateRecoveryCodes(userId)
    t.equal(fresh?.length, 10)
    t.equal(await factors.useRecoveryCode(userId, codes[5]!), false, 'an old code is gone')
    t.equal((await factors.status(userId)).recoveryCodesLeft, 10)
    t.equal(await factors.useRecoveryCode(userId, fresh![0]!), true)
    t.match(events.at(-2), { event: 'recovery_codes_regenerated', userId })
    t.equal(normalizeRecoveryCode('ILOO-abcd-efgh-jkmn'), '1100abcdefghjkmn', 'i, l and o read as 1 and 0')
  })

  t.test('removing the app; a reset removes every factor', async (t) => {
    const store = await dialect.open(t)
    const { factors, events, clock } = totpFixture(store)
    const userId = await addUser(store)
    const { secret } = (await factors.addConfirmedTotp(userId, 'alice'))!
    t.equal(await factors.addConfirmedTotp(userId, 'alice'), undefined, 'already has one')
    await factors.removeTotp(userId)
    t.same(await factors.status(userId), { totp: false, passkeys: 0, recoveryCodesLeft: 0 }, 'codes go with the last factor')
    clock.advance(30)
    t.equal(await factors.verifyTotp(userId, codeAt(secret, clock.now())), false)
    t.match(events.at(-1), { event: 'mfa_removed', userId, method: 'totp' })

    await factors.addConfirmedTotp(userId, 'alice')
    const passkey = (name: string) => ({ credential_id: `cred-${name}`, user_id: userId, public_key: 'pk', counter: 0, transports: '[]', name, backed_up: 0, created_at: clock.now(), last_used_at: null })
    await store.db.insertInto('passkeys').values(passkey('laptop')).execute()
    await factors.removeTotp(userId)
    t.same(await factors.status(userId), { totp: false, passkeys: 1, recoveryCodesLeft: 10 }, 'a passkey remains: the codes stay')
    t.equal(await factors.hasFactor(userId), true)
    t.same(await factors.regenerateRecoveryCodes(userId).then((c) => c?.length), 10, 'a passkey alone has recovery codes')

    await factors.addConfirmedTotp(userId, 'alice')
    await store.db.insertInto('passkeys').values(passkey('phone')).execute()
    t.same((await factors.status(userId)).passkeys, 2)
    await factors.resetAll(userId)
    t.same(await factors.status(userId), { totp: false, passkeys: 0, recoveryCodesLeft: 0 })
    t.equal(await factors.hasFactor(userId), false)
    t.match(events.at(-1), { event: 'mfa_reset', userId })
    for (const event of events) t.notMatch(JSON.stringify(event), secret)
  })

  t.test('a value sealed for one user does not open for another', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock } = totpFixture(store)
    const alice = await addUser(store)
    const bob = await addUser(store, 'bob')
    const { secret } = (await factors.addConfirmedTotp(alice, 'alice'))!
    await factors.addConfirmedTotp(bob, 'bob')
    const aliceRow = await store.db.selectFrom('totp_factors').select('secret').where('user_id', '=', alice).executeTakeFirstOrThrow()
    await store.db.updateTable('totp_factors').set({ secret: aliceRow.secret }).where('user_id', '=', bob).execute()
    clock.advance(30)
    t.equal(await factors.verifyTotp(bob, codeAt(secret, clock.now())), false, 'refused, not an error')
  })

  t.test('a secret sealed under another key: app codes fail (mfa_key_mismatch, no secret), recovery codes still work', async (t) => {
    const store = await dialect.open(t)
    const other = totpFixture(store)
    const userId = await addUser(store)
    // Enrolled by a CLI that had another totp.key than the server's.
    const { secret, recoveryCodes } = (await other.factors.addConfirmedTotp(userId, 'alice'))!
    const server = totpFixture(store)
    server.clock.advance(other.clock.now() - server.clock.now() + 30_000)
    t.equal(await server.factors.verifyTotp(userId, codeAt(secret, server.clock.now())), false, 'the right code, but the secret does not open')
    t.same(server.events, [{ event: 'mfa_key_mismatch', userId }])
    t.equal(await server.factors.useRecoveryCode(userId, recoveryCodes[0]!), true, 'a recovery code still signs in')
    t.equal(await server.factors.confirmTotp(userId, '123456'), undefined)
    // A code of the wrong shape is refused before anything is decrypted: no event.
    server.events.length = 0
    for (const code of ['12345', '1234567', 'abcdef', '', '12 34 5x']) t.equal(await server.factors.verifyTotp(userId, code), false, `"${code}"`)
    t.same(server.events, [], 'nothing decrypted for a malformed code')
    t.equal(await server.factors.verifyTotp(userId, '123 456'), false)
    t.same(server.events, [{ event: 'mfa_key_mismatch', userId }], 'spaces are removed: a well-formed code is checked')
    for (const event of server.events) t.notMatch(JSON.stringify(event), secret)
  })

  t.test('concurrent regenerations of recovery codes leave exactly ten unused codes', async (t) => {
    const store = await dialect.open(t)
    const { factors } = totpFixture(store)
    const userId = await addUser(store)
    await factors.addConfirmedTotp(userId, 'alice')
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([factors.regenerateRecoveryCodes(userId), factors.regenerateRecoveryCodes(userId), factors.regenerateRecoveryCodes(userId)])
      t.same(results.map((codes) => codes?.length), [10, 10, 10])
      t.equal((await factors.status(userId)).recoveryCodesLeft, 10, `round ${round}: ten unused codes`)
    }
  })
})

eachDialect(t, async (t, dialect) => {
  t.test('codes: spaces are dropped, but an over-long input is refused before any lookup', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock } = totpFixture(store)
    const userId = await addUser(store)
    const started = await factors.beginTotp(userId, 'alice')
    const code = codeAt(started!.secret, clock.now())
    t.equal(await factors.confirmTotp(userId, ' '.repeat(59) + code), undefined, '65 characters are refused')
    t.equal((await factors.confirmTotp(userId, `${code.slice(0, 3)} ${code.slice(3)}`))?.recoveryCodes.length, 10, 'a spaced code confirms')
  })

  t.test('confirming a secret sealed under another key fails and records mfa_key_mismatch', async (t) => {
    const store = await dialect.open(t)
    const first = totpFixture(store)
    const other = totpFixture(store)
    const userId = await addUser(store)
    const started = await first.factors.beginTotp(userId, 'alice')
    t.equal(await other.factors.confirmTotp(userId, codeAt(started!.secret, other.clock.now())), undefined)
    t.same(other.events, [{ event: 'mfa_key_mismatch', userId }])
    t.equal((await first.repos.secondFactors.findTotp(userId))?.confirmedAt, null, 'still unconfirmed')
    t.equal(await first.factors.status(userId).then((s) => s.recoveryCodesLeft), 0)
  })

  t.test('a confirmation that loses the race (the row changed) stores nothing and records nothing', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock, events, repos, key } = totpFixture(store)
    const userId = await addUser(store)
    const started = await factors.beginTotp(userId, 'alice')
    const row = await repos.secondFactors.findTotp(userId)
    // The repository refuses a secret that is no longer the stored one.
    t.equal(await repos.secondFactors.confirmTotp(userId, `${row!.sealedSecret}x`, 1, clock.now(), ['h1']), false)
    t.equal((await repos.secondFactors.findTotp(userId))?.confirmedAt, null)
    t.equal(await repos.secondFactors.recoveryCodesLeft(userId), 0, 'no codes inserted')
    // The service then answers undefined and records no enrolment.
    const racing = secondFactors({
      factors: { ...repos.secondFactors, confirmTotp: async () => false },
      secrets: keySecretBox(key),
      clock, issuer: 'Example Co', audit: { record: (e) => void events.push(e) },
    })
    t.equal(await racing.confirmTotp(userId, codeAt(started!.secret, clock.now())), undefined)
    t.same(events, [])
  })

  t.test('replacing recovery codes with none clears them', async (t) => {
    const store = await dialect.open(t)
    const { factors, clock, repos } = totpFixture(store)
    const userId = await addUser(store)
    const started = await factors.beginTotp(userId, 'alice')
    await factors.confirmTotp(userId, codeAt(started!.secret, clock.now()))
    t.equal(await repos.secondFactors.recoveryCodesLeft(userId), 10)
    await repos.secondFactors.replaceRecoveryCodes(userId, [], clock.now())
    t.equal(await repos.secondFactors.recoveryCodesLeft(userId), 0)
    t.equal(await factors.hasFactor(userId), true, 'the app still counts')
  })
})
