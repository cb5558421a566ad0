import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'

// Frozen in time: takes Kysely<any>, imports no app code, uses types both dialects share.
// The web origins of every client's redirect URIs, one row each, so a CORS preflight at /token
// or /revoke finds an origin by its key instead of reading every client (anyone may register
// clients with REGISTRATION=open). The origin is stored as its SHA-256 hash: an origin has no
// length limit (an IDN host grows in punycode) and an index entry has one. Filled here from the
// clients that exist; the client repository keeps it in step, and a client's rows go with it.

/** The web origins of redirect URIs, as the client repository computes them (private-use schemes have none). */
function origins(redirectUris: string): string[] {
  const parsed: unknown = JSON.parse(redirectUris)
  const found = new Set<string>()
  for (const uri of Array.isArray(parsed) ? parsed : []) {
    try {
      const { origin } = new URL(String(uri))
      if (origin !== 'null') found.add(origin)
    } catch {
      // Never stored: every redirect URI parses.
    }
  }
  return [...found]
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('client_origins')
    .addColumn('origin_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('client_origins_pk', ['origin_hash', 'client_id'])
    .execute()
  // For the cascade when a client is deleted, and for replacing a client's rows.
  await db.schema.createIndex('client_origins_client_idx').on('client_origins').column('client_id').execute()
  const clients: Array<{ id: string; redirect_uris: string }> = await db.selectFrom('clients').select(['id', 'redirect_uris']).execute()
  for (const client of clients) {
    const rows = origins(client.redirect_uris).map((origin) => ({ origin_hash: createHash('sha256').update(origin).digest('hex'), client_id: client.id }))
    if (rows.length > 0) await db.insertInto('client_origins').values(rows).execute()
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('client_origins').execute()
}
