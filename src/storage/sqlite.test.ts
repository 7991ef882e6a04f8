import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fdatasync, fstatSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storeConformance } from './conformance.js';
import { SqliteStore, type SyncFile } from './sqlite.js';
import { StoreError, createKey, deleteKey, updateKey, type KeyValue, type WatchEvent } from './store.js';

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

test('sqlite: the file is in WAL mode, synced by the store, held exclusively', async () => {
  const path = freshPath();
  const s = new SqliteStore(path);
  try {
    await createKey(s, '/a', '1');
    const info = s.info();
    assert.equal(info.journalMode, 'wal');
    assert.equal(info.synchronous, 1, 'NORMAL: SQLite does not fsync in the commit, the store syncs the WAL itself');
    assert.equal(info.walAutocheckpoint, 0, 'checkpoints are the store\'s');
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

/** A syncFile that holds every sync until released, recording which file it was for. */
function heldSyncs(path: string): { syncFile: SyncFile; pending: { file: 'wal' | 'db'; release(err?: Error): void }[] } {
  const pending: { file: 'wal' | 'db'; release(err?: Error): void }[] = [];
  const syncFile: SyncFile = (fd, done) => {
    const ino = fstatSync(fd).ino;
    const file = ino === statSync(`${path}-wal`).ino ? 'wal' : ino === statSync(path).ino ? 'db' : assert.fail('a sync of some other file');
    pending.push({ file, release: (err) => (err ? done(err) : fdatasync(fd, done)) });
  };
  return { syncFile, pending };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('sqlite: a txn resolves, and watchers see it, only after the WAL is synced; reads of its keys wait for the sync, others do not', async () => {
  const path = freshPath();
  const h = heldSyncs(path);
  // No time-based checkpoint: every sync here is a WAL sync, however slow the machine.
  const s = new SqliteStore(path, { syncFile: h.syncFile, checkpointIntervalMs: 1e9 });
  try {
    const first = createKey(s, '/a', '1');
    await until(() => h.pending.length === 1, 'the sync of the first commit');
    h.pending.shift()!.release();
    await first;
    const w = collect(s, '', 1);

    let resolved = false;
    const write = createKey(s, '/b', '2').then((kv) => { resolved = true; return kv; });
    await until(() => h.pending.length === 1, 'the sync of the commit');
    assert.equal(h.pending[0]!.file, 'wal');
    const queued = createKey(s, '/c', '3');
    const readB: { done: boolean; kv?: KeyValue } = { done: false };
    const gotB = s.get('/b').then((kv) => { readB.done = true; readB.kv = kv; });
    const gotA = await s.get('/a');
    assert.equal(gotA?.value, '1', 'a key the syncing batch did not write is read at once');
    assert.deepEqual((await s.range('/a')).kvs.map((kv) => kv.key), ['/a']);
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(resolved, false, 'not acknowledged before its sync');
    assert.equal(readB.done, false, 'a read of the unsynced key waits');
    assert.equal(await s.revision(), 1, 'the visible revision is the durable one');
    assert.deepEqual(w.batches, [], 'watchers do not see it yet');
    assert.equal(h.pending.length, 1, 'the next batch does not commit while a sync runs');

    h.pending.shift()!.release();
    assert.equal((await write)?.modRevision, 2);
    await gotB;
    assert.equal(readB.kv?.value, '2');
    await until(() => w.batches.length === 1, 'the event');
    await until(() => h.pending.length === 1, 'the sync of the queued txn');
    h.pending.shift()!.release();
    assert.equal((await queued)?.modRevision, 3);
    w.close();
  } finally {
    const closing = s.close();
    for (let i = 0; i < 20 && h.pending.length === 0; i++) await tick();
    while (h.pending.length) h.pending.shift()!.release();
    await closing;
  }
});

test('sqlite: a failed WAL sync fails the txns of its batch and the store; reopening recovers', async () => {
  const path = freshPath();
  const h = heldSyncs(path);
  const s = new SqliteStore(path, { syncFile: h.syncFile });
  const w = s.watch('', 0, { onEvents() {} , onError: (e) => errors.push(e) });
  const errors: StoreError[] = [];
  const write = createKey(s, '/a', '1');
  await until(() => h.pending.length === 1, 'the sync');
  h.pending.shift()!.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  await assert.rejects(write, isCode('Unavailable', /EIO/));
  await assert.rejects(s.get('/a'), isCode('Unavailable'));
  await assert.rejects(createKey(s, '/b', '1'), isCode('Unavailable'));
  assert.equal(errors.length, 1, 'watches end');
  w.close();
  await s.close();
  const again = new SqliteStore(path);
  try {
    // The commit reached the page cache, so here it is there; after a power loss it might not be. Either way the file opens.
    assert.ok((await again.revision()) <= 1);
  } finally {
    await again.close();
  }
});

test('sqlite: a checkpoint syncs the database file, and no commit starts until it has', async () => {
  const path = freshPath();
  const h = heldSyncs(path);
  const s = new SqliteStore(path, { syncFile: h.syncFile, checkpointCommits: 2, checkpointIntervalMs: 1e9 });
  try {
    const order: string[] = [];
    const step = async (p: Promise<unknown>): Promise<void> => {
      await until(() => h.pending.length === 1, 'a sync');
      const x = h.pending.shift()!;
      order.push(x.file);
      x.release();
      await p;
    };
    await step(createKey(s, '/a', '1'));
    const second = createKey(s, '/b', '1');
    await step(second);
    // The second commit made the checkpoint due: the database file is synced next.
    await until(() => h.pending.length === 1, 'the sync of the database file');
    assert.equal(h.pending[0]!.file, 'db');
    const third = createKey(s, '/c', '1');
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(h.pending.length, 1, 'the next commit waits for the database file sync');
    assert.deepEqual((await s.get('/b'))?.value, '1', 'reads go on during it');
    order.push(h.pending[0]!.file);
    h.pending.shift()!.release();
    await step(third);
    assert.deepEqual(order, ['wal', 'wal', 'db', 'wal']);
    assert.equal((await s.range('')).count, 3);
  } finally {
    const closing = s.close();
    for (let i = 0; i < 20 && h.pending.length === 0; i++) await tick();
    while (h.pending.length) h.pending.shift()!.release();
    await closing;
  }
  const again = new SqliteStore(path);
  assert.equal((await again.range('')).count, 3);
  await again.close();
});

test('sqlite: compaction moves the compaction point at once and deletes the history in steps', async () => {
  const path = freshPath();
  const steps: number[] = [];
  let counting = false;
  const s: SqliteStore = new SqliteStore(path, {
    compactionStepRevisions: 3,
    checkpointIntervalMs: 1e9,
    syncFile: (fd, done) => {
      if (counting) steps.push(s.info().events);
      fdatasync(fd, done);
    },
  });
  try {
    for (let i = 1; i <= 10; i++) await createKey(s, `/k/${i}`, 'v');
    counting = true;
    const compaction = s.compact(8);
    assert.equal(await s.compactedRevision(), 8);
    assert.throws(() => s.watch('', 7, { onEvents() {} }), isCode('Compacted'));
    await compaction;
    assert.equal(s.info().events, 2);
    assert.deepEqual(steps, [7, 4, 2], 'three steps of at most 3 revisions, each committed and synced');
  } finally {
    await s.close();
  }
});

test('sqlite: history left below the compaction point (a purge cut short) is purged after reopening', async () => {
  const path = freshPath();
  const s = new SqliteStore(path);
  for (let i = 1; i <= 10; i++) await createKey(s, `/k/${i}`, 'v');
  await s.close();
  const raw = new Database(path);
  raw.prepare("UPDATE meta SET value = 6 WHERE name = 'compacted_revision'").run();
  raw.close();
  const again = new SqliteStore(path);
  try {
    assert.equal(await again.compactedRevision(), 6);
    assert.throws(() => again.watch('', 5, { onEvents() {} }), isCode('Compacted'));
    await until(() => again.info().events === 4, 'the purge');
  } finally {
    await again.close();
  }
});
