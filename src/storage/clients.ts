import type { Kysely } from 'kysely'
import type { Database, ClientRow } from './database.js'
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
}

export interface ClientRepository {
  create(client: Client): Promise<void>
  findById(id: string): Promise<Client | undefined>
  /** Clients with exactly this name, oldest first (names are not unique). */
  findByName(name: string): Promise<Client[]>
  /** Replaces a confidential client's secret (its SHA-256 hash): the old secret stops working. */
  setSecretHash(id: string, secretHash: string): Promise<void>
  /** The first registered resource server (`--audience`) for this audience, for the consent page. */
  findByAudience(audience: string): Promise<Client | undefined>
  /** Whether some client has a redirect URI with this origin (for CORS preflight at /token). */
  isRegisteredOrigin(origin: string): Promise<boolean>
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

function toClient(row: ClientRow): Client {
  return {
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
  }
}

export function clientRepository(db: Kysely<Database>): ClientRepository {
  return {
    async create(client) {
      await db
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
        })
        .execute()
    },
    async findById(id) {
      const row = await db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst()
      return row && toClient(row)
    },
    async findByName(name) {
      const rows = await db.selectFrom('clients').selectAll().where('name', '=', name).orderBy('created_at').orderBy('id').execute()
      return rows.map(toClient)
    },
    async setSecretHash(id, secretHash) {
      await db.updateTable('clients').set({ secret_hash: secretHash }).where('id', '=', id).execute()
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
      const rows = await db.selectFrom('clients').select('redirect_uris').execute()
      return rows.some((row) => redirectOrigins({ redirectUris: fromDbList(row.redirect_uris) }).includes(origin))
    },
  }
}
