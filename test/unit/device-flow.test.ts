import t from 'tap'
import { formatUserCode, newUserCode, normalizeUserCode, USER_CODE_ALPHABET, USER_CODE_LENGTH, userCodeHash } from '../../src/oauth/device-flow.js'

t.test('user codes: 8 characters of the 20-letter alphabet, drawn across all of it', async (t) => {
  t.equal(USER_CODE_ALPHABET.length, 20)
  t.notMatch(USER_CODE_ALPHABET, /[AEIOUY0-9]/, 'no vowels, no digits')
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const code = newUserCode()
    t.match(code, new RegExp(`^[${USER_CODE_ALPHABET}]{${USER_CODE_LENGTH}}$`))
    for (const char of code) seen.add(char)
  }
  t.equal(seen.size, 20, 'every letter turns up in 1600 draws')
})

t.test('typed codes are normalized: any case, hyphens and spaces optional', async (t) => {
  for (const typed of ['BCDF-GHJK', 'bcdf-ghjk', 'BCDFGHJK', ' bcdf ghjk ', 'Bc-Df-Gh-Jk', 'BCDF\tGHJK']) t.equal(normalizeUserCode(typed), 'BCDFGHJK', typed)
  for (const typed of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-EFGH', 'BCDF-GHJ1', 'BCDF_GHJK', 'B'.repeat(65)]) t.equal(normalizeUserCode(typed), undefined, typed)
})

t.test('shown as two groups of four; stored as a hash of the normalized form', async (t) => {
  t.equal(formatUserCode('BCDFGHJK'), 'BCDF-GHJK')
  t.match(userCodeHash('BCDFGHJK'), /^[0-9a-f]{64}$/)
  t.not(userCodeHash('BCDFGHJK'), userCodeHash('BCDFGHJL'))
})
