import t from 'tap'
import {
  jwksMaxAgeSeconds,
  KeyRotationError,
  planRetire,
  planRotation,
  rotationDue,
  rotationPolicy,
  statusesAt,
  type KeyTimes,
  type KeyUpdate,
} from '../../src/keys/key-timeline.js'

const S = 1000
const policy = { publishDelaySeconds: 600, retentionSeconds: 3660 }
const key = (kid: string, times: Partial<KeyTimes> = {}): KeyTimes => ({
  kid,
  alg: 'RS256',
  createdAt: 0,
  signsFrom: 0,
  supersededAt: null,
  retiresAt: null,
  ...times,
})
const apply = (keys: KeyTimes[], updates: KeyUpdate[]) => keys.map((k) => ({ ...k, ...updates.find((u) => u.kid === k.kid) }))
const statuses = (keys: KeyTimes[], at: number) => Object.fromEntries(statusesAt(keys, at))

t.test('statuses follow from the times and the clock alone', async (t) => {
  const a = key('a', { supersededAt: 100 * S, retiresAt: 200 * S })
  const b = key('b', { createdAt: 50 * S, signsFrom: 100 * S })
  t.same(statuses([a, b], 60 * S), { a: 'current', b: 'next' })
  t.same(statuses([a, b], 100 * S), { a: 'previous', b: 'current' }, 'the hand-over is at signs_from, exactly')
  t.same(statuses([a, b], 200 * S - 1), { a: 'previous', b: 'current' })
  t.same(statuses([a, b], 200 * S), { a: 'retired', b: 'current' })
  t.same(statuses([key('x', { signsFrom: 10 * S }), key('y', { signsFrom: 10 * S, createdAt: 1 })], 10 * S), { x: 'previous', y: 'current' }, 'a tie goes to the newer key')
  t.same(statuses([key('x'), key('y')], 0), { x: 'previous', y: 'current' }, 'and then to the kid, so every reader agrees')
  t.same(statuses([key('r'), key('e', { alg: 'ES256' })], 0), { r: 'current', e: 'current' }, 'one current key per algorithm')
})

t.test('rotation: published now, signing after the delay; the old key published for the retention', async (t) => {
  const a = key('a')
  const plan = planRotation([a], 1000 * S, { alg: 'RS256', immediate: false, policy })
  t.equal(plan.signsFrom, 1600 * S)
  t.same(plan.updates, [{ kid: 'a', signsFrom: 0, supersededAt: 1600 * S, retiresAt: (1600 + 3660) * S }])
  const keys = [...apply([a], plan.updates), key('b', { createdAt: 1000 * S, signsFrom: plan.signsFrom })]
  t.same(statuses(keys, 1000 * S), { a: 'current', b: 'next' })
  t.same(statuses(keys, 1600 * S), { a: 'previous', b: 'current' })
  t.same(statuses(keys, 5260 * S), { a: 'retired', b: 'current' })

  const immediate = planRotation([a], 1000 * S, { alg: 'RS256', immediate: true, policy })
  t.equal(immediate.signsFrom, 1000 * S, '--now signs at once')
  t.same(immediate.updates, [{ kid: 'a', signsFrom: 0, supersededAt: 1000 * S, retiresAt: 4660 * S }], 'what the old key signed still verifies')
  t.equal(planRotation([a], 0, { alg: 'RS256', immediate: true, policy }).signsFrom, 1, 'in the millisecond the old key began, the new one still comes after it')
})

t.test('rotation refuses while a key waits to sign; --now replaces the waiting key', async (t) => {
  const a = key('a', { supersededAt: 1600 * S, retiresAt: 5260 * S })
  const b = key('b', { createdAt: 1000 * S, signsFrom: 1600 * S })
  t.throws(() => planRotation([a, b], 1100 * S, { alg: 'RS256', immediate: false, policy }), KeyRotationError)
  t.throws(() => planRotation([a, b], 1100 * S, { alg: 'RS256', immediate: false, policy }), /key b is already waiting to sign/)
  const plan = planRotation([a, b], 1100 * S, { alg: 'RS256', immediate: true, policy })
  t.equal(plan.signsFrom, 1100 * S)
  t.same(plan.updates, [
    { kid: 'a', signsFrom: 0, supersededAt: 1100 * S, retiresAt: 4760 * S },
    { kid: 'b', signsFrom: 1600 * S, supersededAt: 1100 * S, retiresAt: 1100 * S },
  ], 'the waiting key never signed: it retires at once')
  t.same(
    planRotation([a, b], 1100 * S, { alg: 'ES256', immediate: false, policy }),
    { signsFrom: 1700 * S, updates: [] },
    'algorithms rotate apart; a first ES256 key waits the delay too (RS256 signs access tokens meanwhile)',
  )
  t.same(planRotation([a, b], 1100 * S, { alg: 'ES256', immediate: true, policy }), { signsFrom: 1100 * S, updates: [] }, '--now: at once')
  t.same(planRotation([], 1100 * S, { alg: 'RS256', immediate: false, policy }), { signsFrom: 1100 * S, updates: [] }, 'no RS256 key: the first signs at once')
})

t.test('rotation gives an end to a previous key left without one', async (t) => {
  const old = key('old', { supersededAt: 10 * S })
  const a = key('a', { createdAt: 10 * S, signsFrom: 10 * S })
  const plan = planRotation([old, a], 100 * S, { alg: 'RS256', immediate: false, policy })
  t.same(plan.updates.find((u) => u.kid === 'old'), { kid: 'old', signsFrom: 0, supersededAt: 10 * S, retiresAt: 3760 * S })
  const orphan = planRotation([key('p'), key('c', { signsFrom: 10 * S })], 100 * S, { alg: 'RS256', immediate: false, policy })
  t.same(orphan.updates.find((u) => u.kid === 'p'), { kid: 'p', signsFrom: 0, supersededAt: 100 * S, retiresAt: 3760 * S })
})

t.test('retiring the current key: the next key signs at once, else a previous one again, else a new key', async (t) => {
  const a = key('a', { supersededAt: 1600 * S, retiresAt: 5260 * S })
  const b = key('b', { createdAt: 1000 * S, signsFrom: 1600 * S })
  const withNext = planRetire([a, b], 'a', 1100 * S)
  t.same(withNext, {
    createKey: false,
    updates: [
      { kid: 'a', signsFrom: 0, supersededAt: 1600 * S, retiresAt: 1100 * S },
      { kid: 'b', signsFrom: 1100 * S, supersededAt: null, retiresAt: null },
    ],
  })
  t.same(statuses(apply([a, b], withNext.updates), 1100 * S), { a: 'retired', b: 'current' })

  const p = key('p', { supersededAt: 100 * S, retiresAt: 3760 * S })
  const c = key('c', { createdAt: 100 * S, signsFrom: 100 * S })
  const withPrevious = planRetire([p, c], 'c', 200 * S)
  t.same(withPrevious.updates[1], { kid: 'p', signsFrom: 0, supersededAt: null, retiresAt: null }, 'the previous key signs again, with no end')
  t.same(statuses(apply([p, c], withPrevious.updates), 10_000 * S), { p: 'current', c: 'retired' })

  t.same(planRetire([key('only')], 'only', 5 * S), { createKey: true, updates: [{ kid: 'only', signsFrom: 0, supersededAt: 5 * S, retiresAt: 5 * S }] })
})

t.test('retiring a next, previous or retired key; an unknown kid is an error', async (t) => {
  const a = key('a', { supersededAt: 1600 * S, retiresAt: 5260 * S })
  const b = key('b', { createdAt: 1000 * S, signsFrom: 1600 * S })
  const next = planRetire([a, b], 'b', 1100 * S)
  t.same(next.updates, [
    { kid: 'b', signsFrom: 1600 * S, supersededAt: 1100 * S, retiresAt: 1100 * S },
    { kid: 'a', signsFrom: 0, supersededAt: null, retiresAt: null },
  ], 'the current key keeps signing, with no end')
  t.same(statuses(apply([a, b], next.updates), 100_000 * S), { a: 'current', b: 'retired' })

  const previous = planRetire([a, b], 'a', 2000 * S)
  t.same(previous, { createKey: false, updates: [{ kid: 'a', signsFrom: 0, supersededAt: 1600 * S, retiresAt: 2000 * S }] })
  t.same(planRetire([a, b], 'a', 6000 * S), { createKey: false, updates: [] }, 'already retired: nothing to do')
  t.throws(() => planRetire([a, b], 'zzz', 0), /no key zzz in KEYS_DIR/)
})

t.test('scheduled rotation is due when the newest key is KEY_ROTATION_DAYS old', async (t) => {
  const day = 86_400 * S
  const a = key('a', { createdAt: 0 })
  t.equal(rotationDue([a], 90 * day - 1, 'RS256', 90), false)
  t.equal(rotationDue([a], 90 * day, 'RS256', 90), true)
  t.equal(rotationDue([a], 900 * day, 'RS256', 0), false, '0 = off')
  t.equal(rotationDue([a, key('b', { createdAt: 89 * day, signsFrom: 100 * day })], 90 * day, 'RS256', 90), false, 'a newer key, even waiting, resets the count')
  t.equal(rotationDue([a], 90 * day, 'ES256', 90), false, 'no key of the algorithm: nothing to rotate')
})

t.test('the policy and the JWKS max-age follow the configuration', async (t) => {
  t.same(rotationPolicy({ keyPublishDelaySeconds: 600, accessTokenTtlSeconds: 3600 }), { publishDelaySeconds: 600, retentionSeconds: 3660 })
  t.equal(jwksMaxAgeSeconds(600), 300)
  t.equal(jwksMaxAgeSeconds(3600), 300)
  t.equal(jwksMaxAgeSeconds(120), 60, 'half the delay: caches hold the new key before it signs')
  t.equal(jwksMaxAgeSeconds(0), 0)
})
