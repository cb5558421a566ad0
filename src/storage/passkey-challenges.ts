import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/**
 * Where a WebAuthn ceremony's challenge waits for its answer: on the row of what the ceremony
 * belongs to. A sign-in on the login or second-factor page keeps it on its authorization
 * transaction (or account sign-in); a registration on /account/security on the login session.
 * One at a time per row (a new ceremony replaces the last), and taken once: reading it clears it.
 */
export interface PasskeyChallengeSlot {
  set(challenge: string | null): Promise<void>
  /** The stored challenge, cleared in the same step; null when there is none (or another request took it). */
  take(): Promise<string | null>
}

type Owner =
  | { table: 'authorization_transactions'; id: string }
  | { table: 'account_sign_ins'; id: string }
  | { table: 'login_sessions'; idHash: string }

export interface PasskeyChallengeRepository {
  forTransaction(id: string): PasskeyChallengeSlot
  forAccountSignIn(id: string): PasskeyChallengeSlot
  /** `idHash`: the login session's stored id (the cookie's SHA-256). */
  forSession(idHash: string): PasskeyChallengeSlot
}

function slot(db: Kysely<Database>, owner: Owner): PasskeyChallengeSlot {
  // The three tables are written alike; kysely's types cannot follow a table chosen at run time.
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
    forTransaction: (id) => slot(db, { table: 'authorization_transactions', id }),
    forAccountSignIn: (id) => slot(db, { table: 'account_sign_ins', id }),
    forSession: (idHash) => slot(db, { table: 'login_sessions', idHash }),
  }
}
