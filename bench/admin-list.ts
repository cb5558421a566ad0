import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listUsers } from '../src/admin/users.js'
import { connect } from '../src/storage/connect.js'
import { migrate } from '../src/storage/migrate.js'
import { repositories } from '../src/storage/repositories.js'

// `user list --search` on 100,000 users in a file SQLite database: the time of listUsers (the
// function behind the CLI and the admin API), median of several runs, for a search that matches
// many users, one, and none (a scan of every row), and for a page deep in the list.
const USERS = 100_000
const RUNS = 15

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-admin-'))
const store = connect({ kind: 'sqlite', path: join(dir, 'latchkey.sqlite') })
try {
  await migrate(store)
  const started = performance.now()
  await store.db.transaction().execute(async (trx) => {
    for (let first = 0; first < USERS; first += 1000) {
      const rows = Array.from({ length: 1000 }, (_, i) => {
        const n = first + i
        const id = n.toString(16).padStart(12, '0')
        return {
          id: `00000000-0000-4000-8000-${id}`,
          username: `user${String(n).padStart(6, '0')}`,
          password_hash: '$argon2id$v=19$m=19456,t=2,p=1$bench$bench',
          email: `user${n}@${n % 10 === 0 ? 'example.org' : 'example.com'}`,
          name: `User Number ${n}`,
          created_at: Date.now(),
        }
      })
      await trx.insertInto('users').values(rows).execute()
    }
  })
  console.log(`inserted ${USERS.toLocaleString('en')} users in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const users = repositories(store).users
  const cases: Array<[string, Parameters<typeof listUsers>[1]]> = [
    ['first page, no search', {}],
    ['--search example.org (a tenth match)', { search: 'example.org' }],
    ['--search user099999 (one match)', { search: 'user099999' }],
    ['--search nobody-at-all (none: every row scanned)', { search: 'nobody-at-all' }],
    ['--limit 500 --search number', { search: 'number', limit: 500 }],
    ['--after a cursor at user090000', { after: Buffer.from('user090000').toString('base64url') }],
  ]
  for (const [name, input] of cases) {
    const times: number[] = []
    let items = 0
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now()
      items = (await listUsers({ users }, input)).items.length
      times.push(performance.now() - t0)
    }
    times.sort((a, b) => a - b)
    const median = times[Math.floor(RUNS / 2)] as number
    const worst = times[RUNS - 1] as number
    console.log(`user list ${name.padEnd(52)} median ${median.toFixed(1).padStart(6)} ms  max ${worst.toFixed(1).padStart(6)} ms  (${items} items)`)
  }
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
