import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storeConformance } from './conformance.js';
import { SqliteStore } from './sqlite.js';
import { StoreError, createKey, deleteKey, updateKey, type WatchEvent } from './store.js';

const root = mkdtempSync(join(tmpdir(), 'svcnet-sqlite-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(root, `store-${files++}.db`);

storeConformance('sqlite', async (options) => new SqliteStore(freshPath(), options), { propertyRuns: 40 });

const isCode = (code: string, message?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof StoreError, `a StoreError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

function collect(s: SqliteStore, prefix: string, after: number): { batches: WatchEvent[][]; close(): void } {
  const batches: WatchEvent[][] = [];
  const w = s.watch(prefix, after, { onEvents: (events) => batches.push(events) });
  return { batches, close: () => w.close() };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

test('sqlite: reopening the file restores objects, revision, compaction point and watch history', async () => {
  const path = freshPath();
  const s = new SqliteStore(path);
  const live = collect(s, '', 0);
  await createKey(s, '/r/a', 'a1'); // 1
  await createKey(s, '/r/b', 'b1'); // 2
  await updateKey(s, '/r/a', 'a2', 1); // 3
  await deleteKey(s, '/r/b', 2); // 4
  await s.txn({ compare: [], success: [{ type: 'put', key: '/r/c', value: 'c1' }, { type: 'put', key: '/r/a', value: 'a3' }] }); // 5
  await s.compact(2);
  await until(() => live.batches.length === 5, 'live events');
  live.close();
  const before = await s.range('');
  await s.close();

  const s2 = new SqliteStore(path);
  try {
    assert.equal(await s2.revision(), 5);
    assert.equal(await s2.compactedRevision(), 2);
    assert.deepEqual(await s2.range(''), before);
    assert.deepEqual(await s2.get('/r/a'), { key: '/r/a', value: 'a3', createRevision: 1, modRevision: 5, version: 3 });
    assert.throws(() => s2.watch('', 1, { onEvents() {} }), isCode('Compacted'));

    const resumed = collect(s2, '', 2);
    await until(() => resumed.batches.length === 3, 'the replay of revisions 3..5');
    assert.deepEqual(resumed.batches, live.batches.slice(2), 'events written before the restart replay as they were delivered live');
    const created = await createKey(s2, '/r/d', 'd1');
    assert.equal(created?.modRevision, 6, 'the revision counter continues');
    await until(() => resumed.batches.length === 4, 'a live event after the restart');
    assert.equal(resumed.batches[3][0].kv.key, '/r/d');
    resumed.close();
  } finally {
    await s2.close();
  }
});

test('sqlite: committed txns survive a process that dies without closing', async () => {
  const path = freshPath();
  const moduleUrl = new URL('./sqlite.js', import.meta.url).href;
  const script = `
    const { SqliteStore } = await import(${JSON.stringify(moduleUrl)});
    const s = new SqliteStore(${JSON.stringify(path)});
    for (let i = 1; i <= 20; i++) await s.txn({ compare: [], success: [{ type: 'put', key: '/d/' + i, value: String(i) }] });
    process.kill(process.pid, 'SIGKILL');
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  assert.ok(existsSync(`${path}-wal`), 'the commits are still in the WAL');
  const s = new SqliteStore(path);
  try {
    assert.equal(await s.revision(), 20);
    assert.equal((await s.range('/d/')).count, 20);
    assert.equal((await s.get('/d/20'))?.value, '20');
    const w = collect(s, '', 0);
    await until(() => w.batches.length === 20, 'the replay');
    w.close();
  } finally {
    await s.close();
  }
});

test('sqlite: the file is in WAL mode, synchronous=FULL, held exclusively', async () => {
  const path = freshPath();
  const s = new SqliteStore(path);
  try {
    await createKey(s, '/a', '1');
    const info = s.info();
    assert.equal(info.journalMode, 'wal');
    assert.equal(info.synchronous, 2);
    assert.equal(info.lockingMode, 'exclusive');
    assert.equal(info.keys, 1);
    assert.equal(info.events, 1);
    assert.ok(existsSync(`${path}-wal`));
    assert.throws(() => new SqliteStore(path), isCode('Unavailable', /in use by another process/));
  } finally {
    await s.close();
  }
  assert.ok(!existsSync(`${path}-wal`), 'close checkpoints the WAL');
  const again = new SqliteStore(path);
  assert.equal(await again.revision(), 1);
  await again.close();
});

test('sqlite: an empty file becomes a store', async () => {
  const path = freshPath();
  writeFileSync(path, '');
  const s = new SqliteStore(path);
  assert.equal(await s.revision(), 0);
  await s.close();
});

test('sqlite: a file that is not a database is refused as Corrupt', () => {
  const path = freshPath();
  writeFileSync(path, 'apiVersion: v1\nkind: Config\n'.repeat(200));
  assert.throws(() => new SqliteStore(path), isCode('Corrupt', new RegExp(`${path}.*not an svcnet storage file`)));
});

test("sqlite: another application's database is refused and left alone", () => {
  const path = freshPath();
  const other = new Database(path);
  other.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x')");
  other.close();
  const size = statSync(path).size;
  assert.throws(() => new SqliteStore(path), isCode('Corrupt', /not an svcnet storage file: it is an SQLite database of another application \(application_id 0, tables: users\)/));
  const check = new Database(path);
  assert.deepEqual(check.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all(), ['users']);
  check.close();
  assert.equal(statSync(path).size, size);
});

test('sqlite: a store of a newer schema is refused', async () => {
  const path = freshPath();
  await new SqliteStore(path).close();
  const db = new Database(path);
  db.pragma('user_version = 2');
  db.close();
  assert.throws(() => new SqliteStore(path), isCode('Corrupt', /schema version 2; this svcnet reads version 1/));
});

test('sqlite: a damaged file is refused as Corrupt', async () => {
  const path = freshPath();
  const s = new SqliteStore(path);
  for (let i = 0; i < 100; i++) await s.txn({ compare: [], success: [{ type: 'put', key: `/big/${i}`, value: 'x'.repeat(1000) }] });
  await s.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096 * 4, 0xab), 0, 4096 * 4, 4096 * 3);
  closeSync(fd);
  assert.throws(() => new SqliteStore(path), isCode('Corrupt', /damaged/));

  const header = freshPath();
  await new SqliteStore(header).close();
  const hfd = openSync(header, 'r+');
  writeSync(hfd, Buffer.alloc(100, 0x42), 0, 100, 0);
  closeSync(hfd);
  assert.throws(() => new SqliteStore(header), isCode('Corrupt', /not an svcnet storage file/));
});

test('sqlite: a file in a missing directory is Unavailable', () => {
  assert.throws(() => new SqliteStore(join(root, 'no', 'such', 'dir', 'x.db')), isCode('Unavailable', /cannot open storage file/));
});
