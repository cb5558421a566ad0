import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { schedulePurges, type PurgeCounts } from '../../src/storage/purge.js'

/** Waits until `done()` holds (timers on a busy machine may run late), at most two seconds. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 2000; waited += 5) await sleep(5)
}

function recordingLog() {
  const lines: Array<{ level: 'info' | 'error'; details: Record<string, unknown>; message: string }> = []
  return {
    lines,
    info: (details: object, message: string) => void lines.push({ level: 'info', details: details as Record<string, unknown>, message }),
    error: (details: object, message: string) => void lines.push({ level: 'error', details: details as Record<string, unknown>, message }),
  }
}

t.test('purges after the first delay, then every interval, and logs the counts as event purge', async (t) => {
  const log = recordingLog()
  let runs = 0
  const schedule = schedulePurges({ intervalMs: 20, firstDelayMs: 0, log, purge: async () => ({ authorization_transactions: ++runs }) })
  schedule.start()
  await until(() => runs >= 3)
  await schedule.stop()
  t.ok(runs >= 3, `ran ${runs} times`)
  t.same(log.lines[0], { level: 'info', details: { event: 'purge', deleted: { authorization_transactions: 1 } }, message: 'purged expired rows' })
  const after = runs
  await sleep(60)
  t.equal(runs, after, 'nothing runs after stop')
})

t.test('a failed purge is logged and the next one still runs', async (t) => {
  const log = recordingLog()
  let runs = 0
  const failure = new Error('database is locked')
  const schedule = schedulePurges({
    intervalMs: 10,
    firstDelayMs: 0,
    log,
    purge: async () => {
      runs++
      if (runs === 1) throw failure
      return {}
    },
  })
  schedule.start()
  await until(() => log.lines.length >= 2)
  await schedule.stop()
  t.same(log.lines[0], { level: 'error', details: { event: 'purge', err: failure }, message: 'purge failed' })
  t.ok(runs >= 2, 'tried again')
  t.equal(log.lines[1]?.level, 'info')
})

t.test('runs never overlap, and stop waits for the one in progress', async (t) => {
  const log = recordingLog()
  let active = 0
  let most = 0
  let finished = 0
  const schedule = schedulePurges({
    intervalMs: 1,
    firstDelayMs: 0,
    log,
    purge: async (): Promise<PurgeCounts> => {
      most = Math.max(most, ++active)
      await sleep(30)
      active--
      finished++
      return {}
    },
  })
  schedule.start()
  await sleep(10)
  await schedule.stop()
  t.equal(finished, 1, 'the run in progress finished before stop resolved')
  t.equal(most, 1)
})

t.test('starting twice schedules once', async (t) => {
  let runs = 0
  const schedule = schedulePurges({ intervalMs: 60_000, firstDelayMs: 0, log: recordingLog(), purge: async () => (runs++, {}) })
  schedule.start()
  schedule.start()
  await until(() => runs >= 1)
  await sleep(20)
  await schedule.stop()
  t.equal(runs, 1)
})

t.test('the first run comes within one interval, and a stopped schedule does not start', async (t) => {
  let runs = 0
  const schedule = schedulePurges({ intervalMs: 30, log: recordingLog(), purge: async () => (runs++, {}) })
  schedule.start()
  await until(() => runs >= 1)
  await schedule.stop()
  t.ok(runs >= 1, 'a random delay below the interval')
  const stopped = schedulePurges({ intervalMs: 1, firstDelayMs: 0, log: recordingLog(), purge: async () => (runs++, {}) })
  await stopped.stop()
  const before = runs
  stopped.start()
  await sleep(20)
  t.equal(runs, before)
})
