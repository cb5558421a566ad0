import argon2 from 'argon2'
import t from 'tap'
import { argon2idHasher, productionPasswords } from '../../src/accounts/passwords.js'
import { testPasswords } from '../helpers/passwords.js'

t.test('the production hasher uses argon2id at 19 MiB, 2 iterations, 1 lane', async (t) => {
  const hash = await productionPasswords.hash('correct horse battery')
  t.match(hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
  t.equal(await productionPasswords.verify(hash, 'correct horse battery'), true)
})

t.test('a hasher hashes with its own costs and checks any argon2 hash', async (t) => {
  const cheap = argon2idHasher({ memoryCost: 16, timeCost: 1, parallelism: 2 })
  const hash = await cheap.hash('correct horse battery')
  t.match(hash, /^\$argon2id\$v=19\$m=16,p=2,t=1\$/)
  t.not(await cheap.hash('correct horse battery'), hash, 'salted')
  t.equal(await cheap.verify(hash, 'correct horse battery'), true)
  t.equal(await cheap.verify(hash, 'correct horse batter'), false)
  t.equal(await testPasswords.verify(hash, 'correct horse battery'), true, 'the costs are read from the hash')
})

t.test('a stored hash that is not an argon2 hash never matches', async (t) => {
  t.equal(await testPasswords.verify('', 'x'), false)
  t.equal(await testPasswords.verify('h', 'h'), false)
})

t.test('with no stored hash, verify works against a dummy hash of its own costs and answers false', async (t) => {
  const costs = { memoryCost: 32, timeCost: 3, parallelism: 1 }
  const checked: string[] = []
  const verify = argon2.verify
  argon2.verify = async (hash, password, options) => {
    checked.push(hash)
    return verify(hash, password, options)
  }
  t.teardown(() => void (argon2.verify = verify))
  const hasher = argon2idHasher(costs)
  t.equal(await hasher.verify(undefined, 'latchkey-dummy-password'), false, 'even the dummy password fails')
  t.equal(await hasher.verify(undefined, 'anything'), false)
  t.equal(checked.length, 2, 'argon2 ran each time')
  t.match(checked[0], /^\$argon2id\$v=19\$m=32,p=1,t=3\$/)
  t.equal(checked[1], checked[0], 'one dummy hash per hasher')
})
