import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { connect, databaseFileWarnings } from '../../src/storage/connect.js'
import { migrate } from '../../src/storage/migrate.js'

const modeOf = (path: string) => statSync(path).mode & 0o777

t.test('a new SQLite database, its WAL and shared-memory files are 0600 in a 0700 directory', async (t) => {
  const dir = join(t.testdir(), 'data', 'db')
  const path = join(dir, 'latchkey.sqlite')
  const target = { kind: 'sqlite' as const, path }
  t.same(databaseFileWarnings(target), [], 'nothing exists yet')
  const store = connect(target)
  t.teardown(() => store.close())
  await migrate(store)
  await store.db.insertInto('scopes').values({ name: 'x', description: 'written through the WAL' }).execute()
  t.ok(existsSync(`${path}-wal`), 'the WAL file exists')
  t.ok(existsSync(`${path}-shm`), 'the shared-memory file exists')
  t.equal(modeOf(dir), 0o700, 'directory')
  t.equal(modeOf(join(dir, '..')), 0o700, 'a parent it created too')
  t.equal(modeOf(path), 0o600, 'database')
  t.equal(modeOf(`${path}-wal`), 0o600, 'WAL')
  t.equal(modeOf(`${path}-shm`), 0o600, 'shared memory')
  t.same(databaseFileWarnings(target), [], 'nothing to warn about')
})

t.test('an existing database keeps its content when connect creates the file privately', async (t) => {
  const path = join(t.testdir(), 'db.sqlite')
  const first = connect({ kind: 'sqlite', path })
  await migrate(first)
  await first.db.insertInto('scopes').values({ name: 'kept', description: 'x' }).execute()
  await first.close()
  const second = connect({ kind: 'sqlite', path })
  t.teardown(() => second.close())
  t.ok(await second.db.selectFrom('scopes').select('name').where('name', '=', 'kept').executeTakeFirst())
})

t.test('an existing database file or directory open to others gets a warning', async (t) => {
  const dir = join(t.testdir(), 'db')
  mkdirSync(dir)
  chmodSync(dir, 0o755)
  const path = join(dir, 'latchkey.sqlite')
  writeFileSync(path, '')
  chmodSync(path, 0o644)
  writeFileSync(`${path}-wal`, '')
  chmodSync(`${path}-wal`, 0o640)
  const warnings = databaseFileWarnings({ kind: 'sqlite', path })
  t.equal(warnings.length, 3)
  t.match(warnings[0], `the database directory ${dir} has mode 0755`)
  t.match(warnings[1], `the database file ${path} has mode 0644`)
  t.match(warnings[1], /expected 0600 \(chmod 0600 /)
  t.match(warnings[2], `the database WAL file ${path}-wal has mode 0640`)
  for (const warning of warnings) t.notMatch(warning, /\n/, 'one line')

  chmodSync(dir, 0o700)
  chmodSync(path, 0o600)
  chmodSync(`${path}-wal`, 0o600)
  t.same(databaseFileWarnings({ kind: 'sqlite', path }), [], 'none once tightened')
})

t.test('no warnings for PostgreSQL or an in-memory database', async (t) => {
  t.same(databaseFileWarnings({ kind: 'postgres', url: 'postgres://localhost/x' }), [])
  t.same(databaseFileWarnings({ kind: 'sqlite', path: ':memory:' }), [])
})
