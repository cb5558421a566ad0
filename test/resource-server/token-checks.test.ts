import t from 'tap'
import { startFixtureIssuer } from './fixture-issuer.js'
import { tokenChecks } from './token-cases.js'

const issuer = await startFixtureIssuer()
t.teardown(() => issuer.close())
await tokenChecks(t, issuer)
