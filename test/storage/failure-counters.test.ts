import t from 'tap'
import { failureCounterRepository } from '../../src/storage/failure-counters.js'
import { dialects } from '../helpers/db.js'

const NOW = 1_795_000_000_000
const WINDOW = 15 * 60_000

for (const dialect of dialects(t)) {
  t.test(`${dialect.name}: failure counters repository`, async (t) => {
    t.test('counts failures in a fixed window from the first one', async (t) => {
      const counters = failureCounterRepository((await dialect.open(t)).db)
      t.equal(await counters.find('k', NOW), undefined)
      t.same(await counters.increment('k', NOW, WINDOW), { failures: 1, expiresAt: NOW + WINDOW })
      t.same(await counters.increment('k', NOW + 10, WINDOW), { failures: 2, expiresAt: NOW + WINDOW }, 'a later failure does not move the window')
      t.same(await counters.increment('k', NOW + WINDOW - 1, WINDOW), { failures: 3, expiresAt: NOW + WINDOW })
      t.same(await counters.find('k', NOW + WINDOW - 1), { failures: 3, expiresAt: NOW + WINDOW })
      t.equal(await counters.find('k', NOW + WINDOW), undefined, 'lapsed at expires_at')
      t.same(await counters.increment('k', NOW + WINDOW, WINDOW), { failures: 1, expiresAt: NOW + 2 * WINDOW }, 'the next failure starts a new window')
    })

    t.test('keys are counted apart', async (t) => {
      const counters = failureCounterRepository((await dialect.open(t)).db)
      await counters.increment('a', NOW, WINDOW)
      await counters.increment('a', NOW, WINDOW)
      await counters.increment('b', NOW, 1000)
      t.same(await counters.find('a', NOW), { failures: 2, expiresAt: NOW + WINDOW })
      t.same(await counters.find('b', NOW), { failures: 1, expiresAt: NOW + 1000 }, 'each with its own window')
    })

    t.test('decrement takes back one failure of a live count only', async (t) => {
      const store = await dialect.open(t)
      const counters = failureCounterRepository(store.db)
      await counters.increment('k', NOW, WINDOW)
      await counters.increment('k', NOW, WINDOW)
      await counters.decrement('k', NOW + 1)
      t.same(await counters.find('k', NOW + 1), { failures: 1, expiresAt: NOW + WINDOW })
      await counters.decrement('k', NOW + 1)
      await counters.decrement('k', NOW + 1)
      t.same(await counters.find('k', NOW + 1), { failures: 0, expiresAt: NOW + WINDOW }, 'never below zero')
      await counters.increment('k', NOW + 2, WINDOW)
      await counters.decrement('k', NOW + WINDOW)
      const row = await store.db.selectFrom('failure_counters').selectAll().where('key_hash', '=', 'k').executeTakeFirstOrThrow()
      t.equal(Number(row.failures), 1, 'a lapsed count is left alone')
      await t.resolves(counters.decrement('unknown', NOW))
      t.equal(await counters.find('unknown', NOW), undefined, 'and no row is made for an unknown key')
    })

    t.test('concurrent failures are each counted once', async (t) => {
      const counters = failureCounterRepository((await dialect.open(t)).db)
      const results = await Promise.all(Array.from({ length: 25 }, () => counters.increment('k', NOW, WINDOW)))
      t.same(results.map((r) => r.failures).sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1), 'each sees its own count')
      t.same(await counters.find('k', NOW), { failures: 25, expiresAt: NOW + WINDOW })
    })
  })
}
