import { createHash } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { Database, ClientRow } from './database.js'
import { containsIgnoringCase, type PageQuery } from './paging.js'
import { revokeAccessTokensOfClient } from './revocation.js'
import type { ClientCache } from './client-cache.js'
import { fromDbBool, fromDbList, fromDbTime, toDbBool, toDbList } from './convert.js'

export interface Client {
  id: string
  name: string
  /** SHA-256 (hex) of the secret; null for a public client. */
  secretHash: string | null
  isPublic: boolean
  redirectUris: string[]
  postLogoutRedirectUris: string[]
  /** `grant_type` values; the grant registry (src/grants/index.ts) says which exist. */
  grantTypes: string[]
  scopes: string[]
  /** Set when the client is registered as a resource server for this audience. */
  audience: string | null
  /** The audiences it may request with `resource` (RFC 8707); empty: DEFAULT_AUDIENCE only. */
  resources: string[]
  createdAt: number
  /** After a rotation with a grace period: the old secret's hash and until when it works. */
  previousSecretHash?: string | null
  previousSecretExpiresAt?: number | null
  /** Registered itself (RFC 7591): consent is never remembered, and unused ones are purged. */
  selfRegistered?: boolean
  /** A self-registered client's registration access token (RFC 7592), as a SHA-256 hash. */
  registrationTokenHash?: string | null
  /** The token_endpoint_auth_method it registered (self-registered clients only). */
  tokenEndpointAuthMethod?: string | null
  /** When a token was last issued to it (self-registered clients only, to the hour). */
  lastUsedAt?: number | null
  /** Accepts only a sign-in with two factors or a passkey (`client add/update --require-mfa`). */
  requireMfa?: boolean
}

/** What `client update` may change; an absent field stays as it is. */
export type ClientChanges = Partial<Pick<Client, 'name' | 'redirectUris' | 'postLogoutRedirectUris' | 'grantTypes' | 'scopes' | 'resources' | 'tokenEndpointAuthMethod' | 'requireMfa'>>

export interface ClientRepository {
  create(client: Client): Promise<void>
  findById(id: string): Promise<Client | undefined>
  /** Clients with exactly this name, oldest first (names are not unique). */
  findByName(name: string): Promise<Client[]>
  /** Replaces a confidential client's secret (its SHA-256 hash): the old secret stops working. */
  setSecretHash(id: string, secretHash: string): Promise<void>
  /** The first registered resource server (`--audience`) for this audience, for the consent page. */
  findByAudience(audience: string): Promise<Client | undefined>
  /** Whether some client has a redirect URI with this origin (for CORS preflight at /token): one lookup in client_origins. */
  isRegisteredOrigin(origin: string): Promise<boolean>
  /** Clients ordered by client_id (the primary key), after `after`, matching `search` in id or name. */
  list(query: PageQuery): Promise<Client[]>
  update(id: string, changes: ClientChanges): Promise<void>
  /**
   * Stores a new secret hash. With `previousExpiresAt` the current secret keeps working until
   * then; without it, it stops at once (and so does any previous one).
   */
  rotateSecret(id: string, secretHash: string, previousExpiresAt: number | undefined): Promise<void>
  /**
   * Records every access token the client was issued as revoked, then deletes the client with
   * its families, refresh tokens, codes, consents and transactions, in one transaction.
   */
  remove(id: string, now: number): Promise<void>
  /**
   * RFC 7592: replaces a self-registered client's registration access token, only if its hash
   * is still `currentHash` (one conditional UPDATE, so a token is good for one use at most);
   * false when it was not.
   */
  replaceRegistrationToken(id: string, currentHash: string, newHash: string): Promise<boolean>
  /** Records that a token was issued to a self-registered client at `now`. */
  markUsed(id: string, now: number): Promise<void>
  /** The redirect and post-logout redirect URIs of every client an administrator added (not self-registered). */
  administratorRedirectUris(): Promise<string[]>
}

/** The web origins of a client's redirect URIs (private-use schemes have none). */
export function redirectOrigins(client: Pick<Client, 'redirectUris'>): string[] {
  const origins: string[] = []
  for (const uri of client.redirectUris) {
    try {
      const { origin } = new URL(uri)
      if (origin !== 'null') origins.push(origin)
    } catch {
      // Registration refuses URIs that do not parse; nothing to add.
    }
  }
  return origins
}

/** How client_origins stores an origin (2026-12-01-03-client-origins: an origin has no length limit). */
function originHash(origin: string): string {
  return createHash('sha256').update(origin).digest('hex')
}

/** Replaces a client's rows in client_origins with its redirect URIs' origins. */
async function storeOrigins(trx: Kysely<Database>, id: string, redirectUris: string[]): Promise<void> {
  await trx.deleteFrom('client_origins').where('client_id', '=', id).execute()
  const hashes = [...new Set(redirectOrigins({ redirectUris }))].map(originHash)
  if (hashes.length > 0) await trx.insertInto('client_origins').values(hashes.map((origin_hash) => ({ origin_hash, client_id: id }))).execute()
}

/**
 * Frozen, arrays included, on every dialect: a client may be shared by every request that reads
 * it (client-cache.ts), so code that tried to change one fails in every test, not only on a hit.
 */
function toClient(row: ClientRow): Client {
  const client: Client = {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    isPublic: fromDbBool(row.is_public),
    redirectUris: fromDbList(row.redirect_uris),
    postLogoutRedirectUris: fromDbList(row.post_logout_redirect_uris),
    grantTypes: fromDbList(row.grant_types),
    scopes: fromDbList(row.scopes),
    audience: row.audience,
    resources: fromDbList(row.resources),
    createdAt: fromDbTime(row.created_at),
    previousSecretHash: row.previous_secret_hash,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : fromDbTime(row.previous_secret_expires_at),
    selfRegistered: fromDbBool(row.self_registered),
    registrationTokenHash: row.registration_token_hash,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    lastUsedAt: row.last_used_at === null ? null : fromDbTime(row.last_used_at),
    requireMfa: fromDbBool(row.require_mfa),
  }
  for (const list of [client.redirectUris, client.postLogoutRedirectUris, client.grantTypes, client.scopes, client.resources]) Object.freeze(list)
  return Object.freeze(client)
}

/** `cache`: clients by id (SQLite, outside transactions), so findById reads the database only on a miss. */
export function clientRepository(db: Kysely<Database>, clientCache?: ClientCache): ClientRepository {
  // A transaction reads its own writes: never through the cache.
  const cache = db.isTransaction ? undefined : clientCache
  /** In the caller's transaction if there is one (InTransaction), else in one of its own. */
  const atomically = (work: (trx: Kysely<Database>) => Promise<void>) => (db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work))
  return {
    async create(client) {
      await atomically(async (trx) => {
        await trx
          .insertInto('clients')
          .values({
            id: client.id,
            name: client.name,
            secret_hash: client.secretHash,
            is_public: toDbBool(client.isPublic),
            redirect_uris: toDbList(client.redirectUris),
            post_logout_redirect_uris: toDbList(client.postLogoutRedirectUris),
            grant_types: toDbList(client.grantTypes),
            scopes: toDbList(client.scopes),
            audience: client.audience,
            resources: toDbList(client.resources),
            created_at: client.createdAt,
            self_registered: toDbBool(client.selfRegistered === true),
            registration_token_hash: client.registrationTokenHash ?? null,
            token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? null,
            require_mfa: toDbBool(client.requireMfa === true),
          })
          .execute()
        await storeOrigins(trx, client.id, client.redirectUris)
      })
    },
    async findById(id) {
      const cached = cache?.get(id)
      if (cached) return cached
      const from = cache?.generation()
      const row = await db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst()
      const client = row && toClient(row)
      if (client && from !== undefined) cache?.set(id, client, from)
      return client
    },
    async findByName(name) {
      const rows = await db.selectFrom('clients').selectAll().where('name', '=', name).orderBy('created_at').orderBy('id').execute()
      return rows.map(toClient)
    },
    async setSecretHash(id, secretHash) {
      // A new secret with no grace: a secret kept for a rotation's grace period ends too.
      await db.updateTable('clients').set({ secret_hash: secretHash, previous_secret_hash: null, previous_secret_expires_at: null }).where('id', '=', id).execute()
    },
    async findByAudience(audience) {
      const row = await db
        .selectFrom('clients')
        .selectAll()
        .where('audience', '=', audience)
        .orderBy('created_at')
        .orderBy('id')
        .limit(1)
        .executeTakeFirst()
      return row && toClient(row)
    },
    async isRegisteredOrigin(origin) {
      // One indexed lookup: a preflight needs no credentials, and anyone may register clients.
      const row = await db.selectFrom('client_origins').select('client_id').where('origin_hash', '=', originHash(origin)).limit(1).executeTakeFirst()
      return row !== undefined
    },
    async list({ after, limit, search }) {
      let query = db.selectFrom('clients').selectAll().orderBy('id').limit(limit)
      if (after !== undefined) query = query.where('id', '>', after)
      if (search !== undefined) {
        query = query.where((eb) => eb.or([containsIgnoringCase(eb.ref('id'), search), containsIgnoringCase(eb.ref('name'), search)]))
      }
      return (await query.execute()).map(toClient)
    },
    async update(id, changes) {
      const set: Partial<Record<'name' | 'redirect_uris' | 'post_logout_redirect_uris' | 'grant_types' | 'scopes' | 'resources' | 'token_endpoint_auth_method', string> & { require_mfa: number }> = {}
      if (changes.name !== undefined) set.name = changes.name
      if (changes.redirectUris !== undefined) set.redirect_uris = toDbList(changes.redirectUris)
      if (changes.postLogoutRedirectUris !== undefined) set.post_logout_redirect_uris = toDbList(changes.postLogoutRedirectUris)
      if (changes.grantTypes !== undefined) set.grant_types = toDbList(changes.grantTypes)
      if (changes.scopes !== undefined) set.scopes = toDbList(changes.scopes)
      if (changes.resources !== undefined) set.resources = toDbList(changes.resources)
      if (changes.tokenEndpointAuthMethod) set.token_endpoint_auth_method = changes.tokenEndpointAuthMethod
      if (changes.requireMfa !== undefined) set.require_mfa = toDbBool(changes.requireMfa)
      if (Object.keys(set).length === 0) return
      await atomically(async (trx) => {
        await trx.updateTable('clients').set(set).where('id', '=', id).execute()
        if (changes.redirectUris !== undefined) await storeOrigins(trx, id, changes.redirectUris)
      })
    },
    async rotateSecret(id, secretHash, previousExpiresAt) {
      await db
        .updateTable('clients')
        .set((eb) => ({
          secret_hash: secretHash,
          previous_secret_hash: previousExpiresAt === undefined ? null : eb.ref('secret_hash'),
          previous_secret_expires_at: previousExpiresAt ?? null,
        }))
        .where('id', '=', id)
        .execute()
    },
    async remove(id, now) {
      await db.transaction().execute(async (trx) => {
        // The families first (their row locks, as revokeFamily takes them): a rotation in
        // progress finishes before and its access token is copied next, or finds them revoked.
        await trx.updateTable('refresh_token_families').set({ revoked_at: now }).where('client_id', '=', id).where('revoked_at', 'is', null).execute()
        await revokeAccessTokensOfClient(trx, id, now)
        // Families, refresh tokens, codes, consents, transactions and access-token records go
        // with it (ON DELETE CASCADE); the revoked jtis stay until the tokens expire.
        await trx.deleteFrom('clients').where('id', '=', id).execute()
      })
    },
    async replaceRegistrationToken(id, currentHash, newHash) {
      const result = await db
        .updateTable('clients')
        .set({ registration_token_hash: newHash })
        .where('id', '=', id)
        .where('self_registered', '=', 1)
        .where('registration_token_hash', '=', currentHash)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
    async markUsed(id, now) {
      await db.updateTable('clients').set({ last_used_at: now }).where('id', '=', id).execute()
    },
    async administratorRedirectUris() {
      const rows = await db.selectFrom('clients').select(['redirect_uris', 'post_logout_redirect_uris']).where('self_registered', '=', toDbBool(false)).execute()
      return rows.flatMap((row) => [...fromDbList(row.redirect_uris), ...fromDbList(row.post_logout_redirect_uris)])
    },
  }
}
