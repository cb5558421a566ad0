import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Where a WebAuthn ceremony's challenge waits for its answer: on the row of what the ceremony
 * belongs to. A sign-in on the login or second-factor page keeps it on its authorization
 * transaction (AuthorizationTransactions.setPasskeyChallenge/takePasskeyChallenge) or account
 * sign-in; a registration on the account page on the login session (here). One at a time per
 * row (a new ceremony replaces the last), and taken once: reading it clears it.
 */
export interface PasskeyChallengeSlot {
  set(challenge: string | null): Promise<void>
  /** The stored challenge, cleared in the same step; null when there is none (or another request took it). */
  take(): Promise<string | null>
}

type Owner =
  | { table: 'account_sign_ins' | 'authorization_transactions'; id: string }
  | { table: 'login_sessions'; idHash: string }

export interface PasskeyChallengeRepository {
  forAccountSignIn(id: string): PasskeyChallengeSlot
  /** `idHash`: the login session's stored id (the cookie's SHA-256). */
  forSession(idHash: string): PasskeyChallengeSlot
}

/** The challenge slot on one row (the repositories of transactions and account sign-ins use it too). */
export function passkeyChallengeSlot(db: Kysely<Database>, owner: Owner): PasskeyChallengeSlot {
  // The tables are written alike; kysely's types cannot follow a table chosen at run time.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const anyDb = db as unknown as Kysely<any>
  const [keyColumn, key] = owner.table === 'login_sessions' ? ['id_hash', owner.idHash] : ['id', owner.id]
  return {
    async set(challenge) {
      await anyDb.updateTable(owner.table).set({ passkey_challenge: challenge }).where(keyColumn, '=', key).execute()
    },
    async take() {
      const row = (await anyDb.selectFrom(owner.table).select('passkey_challenge').where(keyColumn, '=', key).executeTakeFirst()) as
        | { passkey_challenge: string | null }
        | undefined
      const challenge = row?.passkey_challenge ?? null
      if (challenge === null) return null
      // Compare-and-clear: of two requests that read the same challenge, only one clears it.
      const cleared = await anyDb
        .updateTable(owner.table)
        .set({ passkey_challenge: null })
        .where(keyColumn, '=', key)
        .where('passkey_challenge', '=', challenge)
        .executeTakeFirst()
      return Number(cleared.numUpdatedRows) === 1 ? challenge : null
    },
  }
}

export function passkeyChallengeRepository(db: Kysely<Database>): PasskeyChallengeRepository {
  return {
    forAccountSignIn: (id) => passkeyChallengeSlot(db, { table: 'account_sign_ins', id }),
    forSession: (idHash) => passkeyChallengeSlot(db, { table: 'login_sessions', idHash }),
  }
}
