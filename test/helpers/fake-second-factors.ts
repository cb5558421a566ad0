import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import type { SecondFactors } from '../../src/accounts/second-factors.js'
import type { Clock } from '../../src/clock.js'
import { sha256Hex } from '../../src/oauth/secrets.js'
import type { Database } from '../../src/storage/database.js'

// TODO: replaced by the totp helper's real SecondFactors once it lands on main; only the
// pages' tests use this stand-in (plaintext secrets, same tables).

function totpOf(secret: string, label: string): TOTP {
  return new TOTP({ issuer: 'latchkey', label, secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
}

const normalise = (code: string) => code.replace(/[\s-]/g, '').toLowerCase()

export function fakeSecondFactors(db: Kysely<Database>, clock: Clock): SecondFactors {
  const newCodes = async (userId: string): Promise<string[]> => {
    await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
    const codes = Array.from({ length: 10 }, () => {
      const raw = randomBytes(5).toString('hex')
      return `${raw.slice(0, 5)}-${raw.slice(5)}`
    })
    await db.insertInto('recovery_codes').values(codes.map((c) => ({ code_hash: sha256Hex(normalise(c)), user_id: userId, created_at: clock.now(), used_at: null }))).execute()
    return codes
  }
  const row = (userId: string) => db.selectFrom('totp_factors').selectAll().where('user_id', '=', userId).executeTakeFirst()
  const self: SecondFactors = {
    async status(userId) {
      const totp = await row(userId)
      const passkeys = await db.selectFrom('passkeys').select('credential_id').where('user_id', '=', userId).execute()
      const codes = await db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', userId).where('used_at', 'is', null).execute()
      return { totp: totp?.confirmed_at != null, passkeys: passkeys.length, recoveryCodesLeft: codes.length }
    },
    async hasFactor(userId) {
      const s = await self.status(userId)
      return s.totp || s.passkeys > 0
    },
    async beginTotp(userId, username) {
      const existing = await row(userId)
      if (existing?.confirmed_at != null) return undefined
      const secret = new Secret({ size: 20 }).base32
      await db.deleteFrom('totp_factors').where('user_id', '=', userId).execute()
      await db.insertInto('totp_factors').values({ user_id: userId, secret, created_at: clock.now(), confirmed_at: null, last_step: null }).execute()
      return { secret, otpauthUri: totpOf(secret, username).toString() }
    },
    async confirmTotp(userId, code) {
      const existing = await row(userId)
      if (!existing || existing.confirmed_at != null) return undefined
      const delta = totpOf(existing.secret, '').validate({ token: code.trim(), timestamp: clock.now(), window: 1 })
      if (delta === null) return undefined
      const step = Math.floor(clock.now() / 30_000) + delta
      await db.updateTable('totp_factors').set({ confirmed_at: clock.now(), last_step: step }).where('user_id', '=', userId).execute()
      return { recoveryCodes: await newCodes(userId) }
    },
    async verifyTotp(userId, code) {
      const existing = await row(userId)
      if (!existing || existing.confirmed_at == null) return false
      const delta = totpOf(existing.secret, '').validate({ token: code.trim(), timestamp: clock.now(), window: 1 })
      if (delta === null) return false
      const step = Math.floor(clock.now() / 30_000) + delta
      const result = await db
        .updateTable('totp_factors')
        .set({ last_step: step })
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async useRecoveryCode(userId, code) {
      const result = await db
        .updateTable('recovery_codes')
        .set({ used_at: clock.now() })
        .where('user_id', '=', userId)
        .where('code_hash', '=', sha256Hex(normalise(code)))
        .where('used_at', 'is', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async regenerateRecoveryCodes(userId) {
      return (await self.hasFactor(userId)) ? newCodes(userId) : undefined
    },
    async removeTotp(userId) {
      await db.deleteFrom('totp_factors').where('user_id', '=', userId).execute()
      if ((await self.status(userId)).passkeys === 0) await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
    },
    async resetAll(userId) {
      await db.deleteFrom('totp_factors').where('user_id', '=', userId).execute()
      await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
      await db.deleteFrom('passkeys').where('user_id', '=', userId).execute()
    },
    async addConfirmedTotp(userId, username) {
      const begun = await self.beginTotp(userId, username)
      if (!begun) return undefined
      await db.updateTable('totp_factors').set({ confirmed_at: clock.now() }).where('user_id', '=', userId).execute()
      return { ...begun, recoveryCodes: await newCodes(userId) }
    },
  }
  return self
}

/** The code an authenticator app shows for `secret` at `now`. */
export function totpCode(secret: string, now: number): string {
  return totpOf(secret, '').generate({ timestamp: now })
}
