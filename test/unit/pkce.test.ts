import t from 'tap'
import { parseChallenge, s256, verifierMatches } from '../../src/oauth/pkce.js'

// RFC 7636 Appendix B.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'

t.test('computes S256 as in RFC 7636 Appendix B', async (t) => {
  t.equal(s256(VERIFIER), CHALLENGE)
})

t.test('matches only the right verifier', async (t) => {
  t.equal(verifierMatches(VERIFIER, CHALLENGE), true)
  t.equal(verifierMatches(`${VERIFIER.slice(0, -1)}B`, CHALLENGE), false)
  t.equal(verifierMatches('too-short', s256('too-short')), false, 'a verifier must be 43 to 128 characters')
  t.equal(verifierMatches('a'.repeat(129), s256('a'.repeat(129))), false)
  t.equal(verifierMatches(`${'a'.repeat(42)}+`, s256(`${'a'.repeat(42)}+`)), false, 'unreserved characters only')
  t.equal(verifierMatches(VERIFIER, 'short'), false, 'a malformed stored challenge never matches')
})

t.test('accepts S256 challenges only, with the method stated', async (t) => {
  t.same(parseChallenge(CHALLENGE, 'S256'), { challenge: CHALLENGE, method: 'S256' })
  t.equal(parseChallenge(undefined, undefined), undefined)
  const refused: Array<[string | undefined, string | undefined, RegExp]> = [
    [CHALLENGE, undefined, /required/],
    [CHALLENGE, 'plain', /S256/],
    [CHALLENGE, 's256', /S256/],
    [undefined, 'S256', /without code_challenge/],
    [CHALLENGE.slice(1), 'S256', /43/],
    [`${CHALLENGE}A`, 'S256', /43/],
    [`${CHALLENGE.slice(1)}=`, 'S256', /43/],
  ]
  for (const [challenge, method, message] of refused) {
    t.throws(() => parseChallenge(challenge, method), { code: 'invalid_request', message })
  }
})
