import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { dialects } from '../helpers/db.js'
import { basic, createClient, createUser, exchange, obtainCode, verifyAccessToken } from '../helpers/oauth.js'

// Redeeming a code is one transaction with a conditional UPDATE; it must hold on both dialects.
for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: concurrent redemptions yield one token; a valid replay revokes it`, async (t) => {
    const ctx = await buildTestApp(t, { dialect })
    await createUser(ctx)
    const client = await createClient(ctx)
    const auth = { authorization: basic(client.client_id, client.client_secret as string) }
    const { code, verifier } = await obtainCode(ctx, client)
    const form = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }

    const results = await Promise.all(Array.from({ length: 6 }, () => exchange(ctx.app, form, auth)))
    const winners = results.filter((r) => r.statusCode === 200)
    t.equal(winners.length, 1, 'exactly one exchange succeeds')
    for (const r of results.filter((r) => r.statusCode !== 200)) t.equal(r.json().error, 'invalid_grant')
    const families = await ctx.store.db.selectFrom('refresh_token_families').selectAll().execute()
    t.equal(families.length, 1, 'one family')
    const tokens = await ctx.store.db.selectFrom('access_tokens').selectAll().execute()
    t.equal(tokens.length, 1, 'one recorded access token')

    const { payload } = await verifyAccessToken(ctx, (winners[0] as (typeof results)[number]).json().access_token)
    t.equal(await ctx.repos.accessTokens.isRevoked(payload.jti as string), true, 'the losers were valid replays: revoked')
    t.not((await ctx.repos.refreshTokens.findFamily(families[0]?.id as string))?.revokedAt, null)
  })
}
