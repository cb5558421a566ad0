import t from 'tap'
import { ACR_MFA, ACR_PWD } from '../../src/oauth/auth-methods.js'
import { requiredAcrFor, signInRequirements } from '../../src/authorization/sign-in-requirement.js'

/** A user store that counts its lookups: the policy asks only when the answer matters. */
function factors(has: boolean) {
  const asked: string[] = []
  return { asked, hasFactor: async (userId: string) => (asked.push(userId), has) }
}

const plain = { requireMfa: false }
const strict = { requireMfa: true }

t.test('MFA_REQUIRED=enrolled: two factors for a user who has one, else one; the client and acr_values can ask more', async (t) => {
  const none = factors(false)
  t.equal(await requiredAcrFor({ policy: 'enrolled', factors: none }, { client: plain, acrValues: null, userId: 'u1' }), ACR_PWD)
  t.same(none.asked, ['u1'], 'the factors were looked up')
  const some = factors(true)
  t.equal(await requiredAcrFor({ policy: 'enrolled', factors: some }, { client: plain, acrValues: null, userId: 'u1' }), ACR_MFA)
  t.equal(await requiredAcrFor({ policy: 'enrolled', factors: some }, { client: plain, acrValues: ACR_PWD, userId: 'u1' }), ACR_MFA, 'acr_values cannot lower what the user has')
  const quiet = factors(false)
  t.equal(await requiredAcrFor({ policy: 'enrolled', factors: quiet }, { client: strict, acrValues: null, userId: 'u1' }), ACR_MFA, '--require-mfa')
  t.equal(await requiredAcrFor({ policy: 'enrolled', factors: quiet }, { client: plain, acrValues: ACR_MFA, userId: 'u1' }), ACR_MFA, 'acr_values=mfa')
  t.same(quiet.asked, [], 'no lookup when the client or the request already asks for two factors')
})

t.test('MFA_REQUIRED=all asks two factors of everyone, without a lookup; off only what client and request ask', async (t) => {
  const none = factors(false)
  t.equal(await requiredAcrFor({ policy: 'all', factors: none }, { client: plain, acrValues: ACR_PWD, userId: 'u1' }), ACR_MFA)
  t.same(none.asked, [])
  const some = factors(true)
  t.equal(await requiredAcrFor({ policy: 'off', factors: some }, { client: plain, acrValues: null, userId: 'u1' }), ACR_PWD, 'off: a factor alone asks nothing')
  t.equal(await requiredAcrFor({ policy: 'off', factors: some }, { client: strict, acrValues: null, userId: 'u1' }), ACR_MFA)
  t.equal(await requiredAcrFor({ policy: 'off', factors: some }, { client: plain, acrValues: `${ACR_MFA} ${ACR_PWD}`, userId: 'u1' }), ACR_PWD, 'the lowest class acr_values accepts')
  t.same(some.asked, [], 'off never looks factors up')
})

t.test('isMetBy: two factors or a passkey meet everything; a password meets only the password class', async (t) => {
  const some = factors(true)
  const requirements = signInRequirements({ policy: 'enrolled', factors: some })
  t.ok(await requirements.isMetBy(['pwd', 'otp', 'mfa'], { client: strict, acrValues: null, userId: 'u1' }))
  t.ok(await requirements.isMetBy(['hwk'], { client: strict, acrValues: ACR_MFA, userId: 'u1' }), 'a passkey alone')
  t.same(some.asked, [], 'nothing to look up for a two-factor sign-in')
  t.notOk(await requirements.isMetBy(['pwd'], { client: plain, acrValues: null, userId: 'u1' }), 'the user has a factor')
  const none = signInRequirements({ policy: 'enrolled', factors: factors(false) })
  t.ok(await none.isMetBy(['pwd'], { client: plain, acrValues: null, userId: 'u1' }))
  t.notOk(await none.isMetBy(['pwd'], { client: plain, acrValues: ACR_MFA, userId: 'u1' }))
  t.equal(await none.requiredFor({ client: strict, acrValues: null, userId: 'u1' }), ACR_MFA)
})
