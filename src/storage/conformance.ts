// The Store contract as tests. Every backend runs this same suite
// (memory.test.ts, sqlite.test.ts, etcd.test.ts): what one backend does, all do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  StoreError, createKey, deleteKey, updateKey,
  type KeyValue, type Op, type Store, type TxnRequest, type TxnResponse, type WatchCallbacks, type WatchEvent, type Watcher,
} from './store.js';
import { compactKeeping, startCompactor } from './compactor.js';
import type { WatchOptions } from './watch.js';

/** Opens a fresh, empty store; the watch options let tests reach the replay-paging and slow-watcher paths. */
export type StoreFactory = (options?: WatchOptions) => Promise<Store>;

export interface ConformanceOptions {
  /** fast-check runs of the model property (each run opens a store). Default 100. */
  propertyRuns?: number;
  /**
   * What the backend stores for several ops on one key in one txn. 'sequential'
   * (default): each op is a write of its own (version counts them, one event
   * each). 'collapsed' (etcd, which refuses duplicate keys): only each key's
   * last op is written, as one write and one event; the results are the
   * sequential ones all the same.
   */
  sameKeyOps?: 'sequential' | 'collapsed';
}

export function storeConformance(name: string, open: StoreFactory, options: ConformanceOptions = {}): void {
  const collapsed = options.sameKeyOps === 'collapsed';
  const t = (title: string, body: (s: Store) => Promise<void>, watchOptions?: WatchOptions): void => {
    test(`${name}: ${title}`, async () => {
      const store = await open(watchOptions);
      try {
        await body(store);
        const leaked = (store as { watcherCount?: number }).watcherCount;
        if (leaked !== undefined) assert.equal(leaked, 0, 'every watcher the test opened is closed');
      } finally {
        await store.close();
      }
    });
  };

  t('an empty store is at revision 0', async (s) => {
    assert.equal(await s.revision(), 0);
    assert.equal(await s.compactedRevision(), 0);
    assert.equal(await s.get('/a'), undefined);
    assert.deepEqual(await s.range(''), { kvs: [], revision: 0, more: false, count: 0 });
  });

  t('create, update and delete through txn', async (s) => {
    const created = await createKey(s, '/r/a', 'v1');
    assert.deepEqual(created, { key: '/r/a', value: 'v1', createRevision: 1, modRevision: 1, version: 1 });
    assert.equal(await s.revision(), 1);
    assert.equal(await createKey(s, '/r/a', 'again'), undefined, 'create of an existing key fails');

    const updated = await updateKey(s, '/r/a', 'v2', 1);
    assert.deepEqual(updated, { key: '/r/a', value: 'v2', createRevision: 1, modRevision: 2, version: 2 });
    assert.deepEqual(await s.get('/r/a'), updated);

    const deleted = await deleteKey(s, '/r/a', 2);
    assert.deepEqual(deleted, updated, 'delete returns the deleted kv');
    assert.equal(await s.get('/r/a'), undefined);
    assert.equal(await s.revision(), 3);

    const recreated = await createKey(s, '/r/a', 'v3');
    assert.deepEqual(recreated, { key: '/r/a', value: 'v3', createRevision: 4, modRevision: 4, version: 1 }, 'a new incarnation starts over');
  });

  t('a failed compare writes nothing and reports the current kvs', async (s) => {
    const a = await createKey(s, '/c/a', 'a');
    await createKey(s, '/c/b', 'b');
    const before = await s.range('');
    const stale: TxnResponse = await s.txn({
      compare: [{ key: '/c/a', modRevision: 1 }, { key: '/c/b', modRevision: 1 }, { key: '/c/none', modRevision: 0 }],
      success: [{ type: 'put', key: '/c/a', value: 'x' }, { type: 'delete', key: '/c/b' }, { type: 'put', key: '/c/new', value: 'n' }],
    });
    assert.equal(stale.succeeded, false);
    assert.equal(stale.revision, 2);
    assert.deepEqual(stale.results, []);
    assert.deepEqual(stale.current, [a, await s.get('/c/b'), undefined]);
    assert.deepEqual(await s.range(''), before);
    assert.equal(await s.revision(), 2);

    assert.equal(await updateKey(s, '/c/a', 'x', 2), undefined, 'update with a stale modRevision');
    assert.equal(await deleteKey(s, '/c/a', 99), undefined, 'delete with a wrong modRevision');
    assert.equal(await updateKey(s, '/c/none', 'x', 5), undefined, 'update of an absent key');
    assert.equal(await s.revision(), 2);
  });

  t('all ops of a txn share one new revision', async (s) => {
    await createKey(s, '/m/old', 'o');
    await createKey(s, '/m/keep', 'k');
    const w = collect(s, '/m/', 2);
    const r = await s.txn({
      compare: [{ key: '/m/old', modRevision: 1 }, { key: '/m/x', modRevision: 0 }],
      success: [
        { type: 'put', key: '/m/x', value: '1' },
        { type: 'put', key: '/m/y', value: '2' },
        { type: 'put', key: '/m/keep', value: 'k2' },
        { type: 'delete', key: '/m/old' },
      ],
    });
    assert.equal(r.succeeded, true);
    assert.equal(r.revision, 3);
    assert.deepEqual(r.results.map((kv) => kv?.modRevision), [3, 3, 3, 1]);
    assert.deepEqual(r.results[2], { key: '/m/keep', value: 'k2', createRevision: 2, modRevision: 3, version: 2 });
    assert.equal(await s.revision(), 3);
    await w.until(() => w.events().length === 4, '4 events');
    assert.equal(w.batches.length, 1, 'one callback for the revision');
    assert.deepEqual(w.batches[0].map((e) => [e.type, e.kv.key, e.kv.modRevision]), [
      ['put', '/m/x', 3], ['put', '/m/y', 3], ['put', '/m/keep', 3], ['delete', '/m/old', 3],
    ]);
    w.watcher.close();
  });

  t('a txn that changes nothing keeps the revision', async (s) => {
    await createKey(s, '/n/a', 'a');
    const r = await s.txn({ compare: [], success: [{ type: 'delete', key: '/n/absent' }] });
    assert.deepEqual(r, { succeeded: true, revision: 1, results: [undefined] });
    assert.deepEqual(await s.txn({ compare: [{ key: '/n/a', modRevision: 1 }], success: [] }), { succeeded: true, revision: 1, results: [] });
    assert.equal(await s.revision(), 1);
  });

  t('ops on the same key in one txn apply in order', async (s) => {
    const w = collect(s, '', 0);
    const r = await s.txn({
      compare: [],
      success: [{ type: 'put', key: 'k', value: '1' }, { type: 'put', key: 'k', value: '2' }, { type: 'put', key: 'gone', value: 'g' }, { type: 'delete', key: 'gone' }],
    });
    assert.deepEqual(r.results, [
      { key: 'k', value: '1', createRevision: 1, modRevision: 1, version: 1 },
      { key: 'k', value: '2', createRevision: 1, modRevision: 1, version: 2 },
      { key: 'gone', value: 'g', createRevision: 1, modRevision: 1, version: 1 },
      { key: 'gone', value: 'g', createRevision: 1, modRevision: 1, version: 1 },
    ]);
    assert.equal(r.revision, 1);
    assert.equal(await s.get('gone'), undefined);
    if (collapsed) {
      // One write of k; gone was never written.
      assert.deepEqual(await s.get('k'), { key: 'k', value: '2', createRevision: 1, modRevision: 1, version: 1 });
      await w.until(() => w.events().length === 1, '1 event');
      await settle();
      assert.deepEqual(w.events().map((e) => [e.type, e.kv.key, e.kv.value, e.prevKv?.version]), [['put', 'k', '2', undefined]]);
    } else {
      assert.deepEqual(await s.get('k'), { key: 'k', value: '2', createRevision: 1, modRevision: 1, version: 2 });
      await w.until(() => w.events().length === 4, '4 events');
      assert.deepEqual(w.events().map((e) => [e.type, e.kv.key, e.prevKv?.version]), [
        ['put', 'k', undefined], ['put', 'k', 1], ['put', 'gone', undefined], ['delete', 'gone', 1],
      ]);
    }
    w.watcher.close();
  });

  t('txn refuses malformed requests before writing', async (s) => {
    const bad = { compare: [], success: [{ type: 'put', key: '/ok', value: 'v' }, { type: 'put', key: '/bad', value: 7 }] } as unknown as TxnRequest;
    await assert.rejects(s.txn(bad), TypeError);
    assert.equal(await s.get('/ok'), undefined);
    assert.equal(await s.revision(), 0);
  });

  t('range pages with startKey, limit, more and count', async (s) => {
    for (const k of ['/o/x', '/q/x']) await createKey(s, k, k);
    for (let i = 0; i < 10; i++) await createKey(s, `/p/${i}`, `v${i}`);
    const keys = (kvs: KeyValue[]): string[] => kvs.map((kv) => kv.key);

    const all = await s.range('/p/');
    assert.deepEqual(keys(all.kvs), ['/p/0', '/p/1', '/p/2', '/p/3', '/p/4', '/p/5', '/p/6', '/p/7', '/p/8', '/p/9']);
    assert.equal(all.count, 10);
    assert.equal(all.more, false);
    assert.equal(all.revision, 12);

    const pages: string[][] = [];
    let startKey: string | undefined;
    for (;;) {
      const page = await s.range('/p/', { startKey, limit: 3 });
      pages.push(keys(page.kvs));
      assert.equal(page.count, 10 - 3 * (pages.length - 1), 'count is from startKey');
      if (!page.more) break;
      startKey = page.kvs[page.kvs.length - 1].key + '\0';
    }
    assert.deepEqual(pages, [['/p/0', '/p/1', '/p/2'], ['/p/3', '/p/4', '/p/5'], ['/p/6', '/p/7', '/p/8'], ['/p/9']]);

    const exact = await s.range('/p/', { limit: 10 });
    assert.equal(exact.more, false, 'a limit equal to the count leaves nothing more');
    assert.deepEqual(await s.range('/p/', { countOnly: true }), { kvs: [], revision: 12, more: false, count: 10 });
    assert.equal((await s.range('/p/', { startKey: '/a' })).count, 10, 'a startKey before the prefix is the prefix');
    assert.deepEqual(keys((await s.range('/p/', { startKey: '/p/5' })).kvs), ['/p/5', '/p/6', '/p/7', '/p/8', '/p/9']);
    assert.deepEqual(await s.range('/p/', { startKey: '/q' }), { kvs: [], revision: 12, more: false, count: 0 });
    assert.equal((await s.range('', { limit: 0 })).kvs.length, 12, 'limit 0 is no limit');
    assert.equal((await s.range('/nothing/')).count, 0);
  });

  t('a prefix is a byte prefix', async (s) => {
    for (const k of ['/a/b', '/a/b/x', '/a/bc', '/a/c']) await createKey(s, k, k);
    const keys = async (p: string): Promise<string[]> => (await s.range(p)).kvs.map((kv) => kv.key);
    assert.deepEqual(await keys('/a/b/'), ['/a/b/x']);
    assert.deepEqual(await keys('/a/b'), ['/a/b', '/a/b/x', '/a/bc']);
    assert.deepEqual(await keys(''), ['/a/b', '/a/b/x', '/a/bc', '/a/c']);
    const w = collect(s, '/a/b/', 4);
    await s.txn({ compare: [], success: [{ type: 'put', key: '/a/bc', value: '2' }, { type: 'put', key: '/a/b/y', value: '2' }, { type: 'put', key: '/a/b', value: '2' }] });
    await w.until(() => w.events().length > 0, 'an event');
    await settle();
    assert.deepEqual(w.events().map((e) => e.kv.key), ['/a/b/y']);
    w.watcher.close();
  });

  t('keys sort in UTF-8 byte order', async (s) => {
    const keys = ['b', 'a', 'a\0', 'a\0b', 'ab', 'é', '\uE000', '\uFFFF', '\u{10000}', '\u{10FFFF}', '\u{10FFFF}a', '\uD7FF', '\uD7FFz', 'z'];
    for (const k of keys) await createKey(s, k, 'v');
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual((await s.range('')).kvs.map((kv) => kv.key), byBytes);
    assert.deepEqual((await s.range('a')).kvs.map((kv) => kv.key), ['a', 'a\0', 'a\0b', 'ab']);
    assert.deepEqual((await s.range('a\0')).kvs.map((kv) => kv.key), ['a\0', 'a\0b']);
    assert.deepEqual((await s.range('\u{10FFFF}')).kvs.map((kv) => kv.key), ['\u{10FFFF}', '\u{10FFFF}a'], 'a prefix with no upper bound');
    assert.deepEqual((await s.range('\uD7FF')).kvs.map((kv) => kv.key), ['\uD7FF', '\uD7FFz'], 'the bound skips the surrogates');
    assert.deepEqual((await s.range('\uFFFF')).kvs.map((kv) => kv.key), ['\uFFFF']);
  });

  t('values round-trip unchanged', async (s) => {
    const big = JSON.stringify({ data: 'x'.repeat(1 << 20) });
    for (const [k, v] of [['/v/empty', ''], ['/v/unicode', 'héllo \u{1F600} \0 end'], ['/v/big', big]]) {
      await createKey(s, k, v);
      assert.equal((await s.get(k))?.value, v);
    }
  });

  t('watch replays history, then goes live', async (s) => {
    await createKey(s, '/w/a', '1'); // 1
    await createKey(s, '/other', 'x'); // 2
    await updateKey(s, '/w/a', '2', 1); // 3
    await createKey(s, '/w/b', '1'); // 4
    await deleteKey(s, '/w/a', 3); // 5
    const w = collect(s, '/w/', 2);
    await w.until(() => w.revisions().length === 3, 'the replay');
    assert.deepEqual(w.revisions(), [3, 4, 5]);
    assert.deepEqual(w.batches[0], [{
      type: 'put',
      kv: { key: '/w/a', value: '2', createRevision: 1, modRevision: 3, version: 2 },
      prevKv: { key: '/w/a', value: '1', createRevision: 1, modRevision: 1, version: 1 },
    }]);
    assert.deepEqual(w.batches[1], [{ type: 'put', kv: { key: '/w/b', value: '1', createRevision: 4, modRevision: 4, version: 1 } }], 'no prevKv on create');
    assert.deepEqual(w.batches[2], [{
      type: 'delete',
      kv: { key: '/w/a', value: '', createRevision: 0, modRevision: 5, version: 0 },
      prevKv: { key: '/w/a', value: '2', createRevision: 1, modRevision: 3, version: 2 },
    }]);
    await createKey(s, '/w/c', '1'); // 6
    await createKey(s, '/other2', '1'); // 7
    await updateKey(s, '/w/b', '2', 4); // 8
    await w.until(() => w.revisions().length === 5, 'live events');
    assert.deepEqual(w.revisions(), [3, 4, 5, 6, 8]);
    assert.deepEqual(w.batches[4][0].prevKv, { key: '/w/b', value: '1', createRevision: 4, modRevision: 4, version: 1 });
    w.watcher.close();
  });

  t('replayed and live events are the same', async (s) => {
    const live = collect(s, '', 0);
    await createKey(s, '/e/a', '1');
    await updateKey(s, '/e/a', '2', 1);
    await s.txn({ compare: [], success: [{ type: 'put', key: '/e/b', value: 'b' }, { type: 'delete', key: '/e/a' }] });
    await live.until(() => live.revisions().length === 3, 'live events');
    const replay = collect(s, '', 0);
    await replay.until(() => replay.revisions().length === 3, 'replayed events');
    assert.deepEqual(replay.batches, live.batches);
    live.watcher.close();
    replay.watcher.close();
  });

  t('watch from the current revision sees only what comes next', async (s) => {
    await createKey(s, '/x', '1');
    const w = collect(s, '', 1);
    await settle();
    assert.deepEqual(w.revisions(), []);
    await createKey(s, '/y', '1');
    await w.until(() => w.revisions().length === 1, 'the new event');
    assert.deepEqual(w.revisions(), [2]);
    w.watcher.close();
  });

  t('watch has no gap and no duplicate while writes interleave with the replay', async (s) => {
    for (let i = 1; i <= 60; i++) await createKey(s, `/g/${i}`, 'v');
    const w = collect(s, '/g/', 10);
    // Writes issued before the first delivery, without waiting: they commit at once.
    const early = [61, 62, 63].map((i) => createKey(s, `/g/${i}`, 'v'));
    // Writes made from inside the callback, while the replay is being delivered.
    let fromCallback = 0;
    const inner = collect(s, '/g/', 10, () => {
      if (fromCallback < 5) void createKey(s, `/g/cb${fromCallback++}`, 'v');
    });
    await Promise.all(early);
    // And writes interleaved with the replay pages.
    for (let i = 64; i <= 100; i++) {
      await createKey(s, `/g/${i}`, 'v');
      if (i % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    const expected = Array.from({ length: 95 }, (_, i) => i + 11);
    await w.until(() => w.revisions().length >= expected.length, 'every revision');
    await inner.until(() => inner.revisions().length >= expected.length, 'every revision');
    await settle();
    assert.deepEqual(w.revisions(), expected);
    assert.deepEqual(inner.revisions(), expected);
    assert.deepEqual(w.batches, inner.batches);
    w.watcher.close();
    inner.watcher.close();
  }, { replayPageRevisions: 7 });

  for (const replayPageRevisions of [1, 1000]) {
    t(`writes made by a watcher's own callback reach it (replay pages of ${replayPageRevisions})`, async (s) => {
      for (let i = 1; i <= 3; i++) await createKey(s, `/cb/${i}`, 'v');
      const writes: Promise<unknown>[] = [];
      // Each write commits inside the callback, between the history read and
      // the next delivery: exactly where a replay-to-live hand-off could drop it.
      const w = collect(s, '/cb/', 0, (events) => {
        if (events[0].kv.modRevision <= 3) writes.push(createKey(s, `/cb/${events[0].kv.modRevision + 3}`, 'v'));
      });
      await w.until(() => w.revisions().length >= 6, 'revisions 1..6');
      await Promise.all(writes);
      await settle();
      assert.deepEqual(w.revisions(), [1, 2, 3, 4, 5, 6]);
      w.watcher.close();
    }, { replayPageRevisions });
  }

  t('a watcher that falls behind is fed from history, in order, once', async (s) => {
    const w = collect(s, '', 0);
    const other = collect(s, '/s/1', 0);
    for (let i = 0; i < 4; i++) await s.txn({ compare: [], success: [{ type: 'put', key: `/s/${i % 4}`, value: `${i}` }] });
    await w.until(() => w.revisions().length === 4, 'the first revisions, delivered live');
    // 40 commits before the hub gets to run: far over maxPendingEvents.
    const writes: Promise<TxnResponse>[] = [];
    for (let i = 4; i < 44; i++) writes.push(s.txn({ compare: [], success: [{ type: 'put', key: `/s/${i % 4}`, value: `${i}` }] }));
    // Concurrent txns need not commit in the order they were issued (etcd's
    // arrive over several connections): each one's revision says where it went.
    const done = await Promise.all(writes);
    const byRevision = new Map<number, number>([[1, 0], [2, 1], [3, 2], [4, 3]]);
    done.forEach((r, j) => byRevision.set(r.revision, j + 4));
    await w.until(() => w.revisions().length === 44, 'all 44 revisions');
    const revisions = Array.from({ length: 44 }, (_, i) => i + 1);
    const otherWants = revisions.filter((r) => byRevision.get(r)! % 4 === 1);
    // Each watch is fed on its own (over etcd, its own stream, whose catching up etcd
    // schedules every 100 ms): `other` need not be done when `w` is.
    await other.until(() => other.revisions().length >= otherWants.length, `the ${otherWants.length} revisions under /s/1`);
    await settle();
    assert.deepEqual(w.revisions(), revisions);
    assert.deepEqual(w.events().map((e) => e.kv.value), revisions.map((r) => `${byRevision.get(r)}`));
    assert.deepEqual(other.revisions(), otherWants);
    w.watcher.close();
    other.watcher.close();
  }, { maxPendingEvents: 5, replayPageRevisions: 3 });

  t('close stops callbacks', async (s) => {
    await createKey(s, '/z/a', '1');
    const never = collect(s, '', 0);
    never.watcher.close();
    never.watcher.close();
    let calls = 0;
    const once: Watcher = s.watch('', 0, {
      onEvents() {
        calls++;
        once.close();
      },
    });
    const live = collect(s, '', 1);
    live.watcher.close();
    await createKey(s, '/z/b', '1');
    await createKey(s, '/z/c', '1');
    // A replaying watch may take a while to start (etcd syncs them every 100 ms).
    for (const deadline = Date.now() + 5000; calls === 0 && Date.now() < deadline;) await sleep(1);
    await settle();
    assert.deepEqual(never.batches, []);
    assert.deepEqual(live.batches, []);
    assert.equal(calls, 1);
    assert.deepEqual(never.errors, []);
  });

  t('a callback that throws ends only its own watch', async (s) => {
    const errors: StoreError[] = [];
    const bad = s.watch('', 0, {
      onEvents() {
        throw new Error('consumer bug');
      },
      onError(err) {
        errors.push(err);
      },
    });
    const good = collect(s, '', 0);
    await createKey(s, '/t/a', '1');
    await createKey(s, '/t/b', '1');
    await good.until(() => good.revisions().length === 2, 'both events');
    // Each watch is fed on its own (over etcd, its own stream): `bad` need not have failed yet.
    for (const deadline = Date.now() + 5000; errors.length === 0 && Date.now() < deadline;) await sleep(1);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, 'Unavailable');
    assert.match(errors[0].message, /consumer bug/);
    bad.close();
    good.watcher.close();
  });

  t('compaction drops history; older watches fail with Compacted', async (s) => {
    for (let i = 1; i <= 10; i++) await createKey(s, `/k/${i}`, 'v');
    await s.compact(5);
    assert.equal(await s.compactedRevision(), 5);
    assert.throws(() => s.watch('', 4, { onEvents() {} }), (e: unknown) => e instanceof StoreError && e.code === 'Compacted');
    const w = collect(s, '', 5);
    await w.until(() => w.revisions().length === 5, 'the retained history');
    assert.deepEqual(w.revisions(), [6, 7, 8, 9, 10]);
    w.watcher.close();

    await s.compact(3);
    assert.equal(await s.compactedRevision(), 5, 'compacting backwards is a no-op');
    await assert.rejects(s.compact(11), (e: unknown) => e instanceof StoreError && e.code === 'FutureRevision');
    assert.equal((await s.range('/k/')).count, 10, 'compaction keeps the current state');
    await s.compact(10);
    assert.equal(await s.compactedRevision(), 10);
    const none = collect(s, '', 10);
    await settle();
    assert.deepEqual(none.revisions(), []);
    none.watcher.close();
  });

  t('a replaying watcher whose history is compacted away gets Compacted', async (s) => {
    for (let i = 1; i <= 10; i++) await createKey(s, `/k/${i}`, 'v');
    const w = collect(s, '', 2);
    const compaction = s.compact(8);
    await compaction;
    await w.until(() => w.errors.length === 1, 'the error');
    assert.equal(w.errors[0].code, 'Compacted');
    assert.deepEqual(w.revisions(), [], 'nothing delivered from a history with a hole in it');
    w.watcher.close();
  });

  t('watch from a future revision fails with FutureRevision', async (s) => {
    await createKey(s, '/f', '1');
    // Thrown by a store that knows its revision; a remote one (etcd, written by
    // other processes too) learns it from the server and ends the watch instead.
    let w: Collector | undefined;
    try {
      w = collect(s, '', 2);
    } catch (e) {
      assert.ok(e instanceof StoreError && e.code === 'FutureRevision', String(e));
    }
    if (w) {
      await w.until(() => w.errors.length > 0, 'the error');
      assert.deepEqual(w.errors.map((e) => e.code), ['FutureRevision']);
      assert.deepEqual(w.batches, []);
      w.watcher.close();
    }
    assert.throws(() => s.watch('', -1, { onEvents() {} }), TypeError);
  });

  t('close ends watches with Closed and refuses requests', async (s) => {
    const w = collect(s, '', 0);
    await s.close();
    assert.deepEqual(w.errors.map((e) => e.code), ['Closed']);
    const closed = (e: unknown): boolean => e instanceof StoreError && e.code === 'Closed';
    await assert.rejects(s.get('/a'), closed);
    await assert.rejects(s.range(''), closed);
    await assert.rejects(createKey(s, '/a', '1'), closed);
    await assert.rejects(s.revision(), closed);
    assert.throws(() => s.watch('', 0, { onEvents() {} }), closed);
    await s.close();
    w.watcher.close();
  });

  t('stored kvs cannot be mutated by callers', async (s) => {
    const kv = await createKey(s, '/i', '1');
    assert.throws(() => { (kv as KeyValue).value = 'changed'; }, TypeError);
    const got = await s.get('/i');
    assert.throws(() => { (got as KeyValue).version = 9; }, TypeError);
    assert.equal((await s.get('/i'))?.value, '1');
  });

  t('the compactor keeps the last N revisions', async (s) => {
    for (let i = 1; i <= 12; i++) await createKey(s, `/c/${i}`, 'v');
    assert.equal(await compactKeeping(s, 20), 0, 'nothing to compact yet');
    assert.equal(await compactKeeping(s, 10), 2);
    const compactor = startCompactor(s, { keepRevisions: 3, intervalMs: 5 });
    try {
      const deadline = Date.now() + 5000;
      while ((await s.compactedRevision()) !== 9) {
        assert.ok(Date.now() < deadline, 'the compactor ran');
        await sleep(5);
      }
      await createKey(s, '/c/13', 'v');
      while ((await s.compactedRevision()) !== 10) {
        assert.ok(Date.now() < deadline, 'the compactor keeps running');
        await sleep(5);
      }
    } finally {
      compactor.close();
    }
    await createKey(s, '/c/14', 'v');
    await sleep(30);
    assert.equal(await s.compactedRevision(), 10, 'a closed compactor does nothing');
  });

  modelProperty(name, open, options.propertyRuns ?? 100, collapsed);
}

// ---------------------------------------------------------------------------
// The model: the contract written as naively as possible (a Map, a sort by
// bytes, an array of every event), checked against a backend on random
// sequences of txns, ranges, compactions and watches.

interface Model {
  kvs: Map<string, KeyValue>;
  rev: number;
  compacted: number;
  events: { revision: number; events: WatchEvent[] }[];
}

function modelTxn(m: Model, req: TxnRequest, collapsed = false): TxnResponse {
  const current = req.compare.map((c) => m.kvs.get(c.key));
  if (!req.compare.every((c, i) => (current[i]?.modRevision ?? 0) === c.modRevision)) {
    return { succeeded: false, revision: m.rev, results: [], current };
  }
  if (collapsed) {
    // The results in sequence on a copy; then only each key's last op, written once.
    const { results } = modelTxn({ ...m, kvs: new Map(m.kvs), events: [] }, req);
    const lastOp = new Map(req.success.map((op, i) => [op.key, i]));
    modelTxn(m, { compare: [], success: req.success.filter((op, i) => lastOp.get(op.key) === i) });
    return { succeeded: true, revision: m.rev, results };
  }
  const rev = m.rev + 1;
  const results: (KeyValue | undefined)[] = [];
  const events: WatchEvent[] = [];
  for (const op of req.success) {
    const prev = m.kvs.get(op.key);
    if (op.type === 'put') {
      const kv = { key: op.key, value: op.value, createRevision: prev?.createRevision ?? rev, modRevision: rev, version: (prev?.version ?? 0) + 1 };
      m.kvs.set(op.key, kv);
      results.push(kv);
      events.push(prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv });
    } else {
      results.push(prev);
      if (prev) {
        m.kvs.delete(op.key);
        events.push({ type: 'delete', kv: { key: op.key, value: '', createRevision: 0, modRevision: rev, version: 0 }, prevKv: prev });
      }
    }
  }
  if (events.length === 0) return { succeeded: true, revision: m.rev, results };
  m.rev = rev;
  m.events.push({ revision: rev, events });
  return { succeeded: true, revision: rev, results };
}

function modelRange(m: Model, prefix: string, startKey: string | undefined, limit: number): { keys: string[]; more: boolean; count: number } {
  const bytes = (k: string): Buffer => Buffer.from(k);
  const start = startKey ?? '';
  const all = [...m.kvs.keys()]
    .filter((k) => k.startsWith(prefix) && Buffer.compare(bytes(k), bytes(start)) >= 0)
    .sort((a, b) => Buffer.compare(bytes(a), bytes(b)));
  const keys = limit > 0 ? all.slice(0, limit) : all;
  return { keys, more: keys.length < all.length, count: all.length };
}

type Command =
  | { kind: 'txn'; compare: { key: string; rev: number | 'current' }[]; success: Op[] }
  | { kind: 'range'; prefix: string; startKey?: string; limit: number }
  | { kind: 'compact'; back: number }
  | { kind: 'watch'; prefix: string; back: number }
  | { kind: 'tick' };

const KEYS = ['/a', '/a/b', '/a/bc', '/a/b/c', '/b/\u{10000}', '/b/\uFFFF', '/b/é', '/c/x\0y', '/c/x'];
const PREFIXES = ['', '/a', '/a/b', '/a/b/', '/b/', '/c/x', '/c/x\0', '/zz'];

function commandArb(): fc.Arbitrary<Command> {
  const key = fc.constantFrom(...KEYS);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ type: fc.constant('put' as const), key, value: fc.string({ maxLength: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('delete' as const), key }) },
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      compare: fc.array(fc.record({ key, rev: fc.oneof(fc.constant('current' as const), fc.nat({ max: 6 })) }), { maxLength: 2 }),
      success: fc.array(op, { maxLength: 4 }),
    }) },
    { weight: 2, arbitrary: fc.record({
      kind: fc.constant('range' as const),
      prefix: fc.constantFrom(...PREFIXES),
      startKey: fc.option(fc.constantFrom(...KEYS, '/a/b\0', '/b'), { nil: undefined }),
      limit: fc.nat({ max: 4 }),
    }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat({ max: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('watch' as const), prefix: fc.constantFrom(...PREFIXES), back: fc.nat({ max: 8 }) }) },
    // Lets deliveries run between writes, so replays and live hand-offs interleave with them.
    { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
  );
}

function modelProperty(name: string, open: StoreFactory, numRuns: number, collapsed: boolean): void {
  test(`${name}: random histories give the same results as the model`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(commandArb(), { maxLength: 40 }), async (commands) => {
      const s = await open({ replayPageRevisions: 2, maxPendingEvents: 3 });
      const m: Model = { kvs: new Map(), rev: 0, compacted: 0, events: [] };
      const watches: { w: Collector; prefix: string; after: number }[] = [];
      try {
        for (const c of commands) {
          if (c.kind === 'txn') {
            const req: TxnRequest = {
              compare: c.compare.map((x) => ({ key: x.key, modRevision: x.rev === 'current' ? (m.kvs.get(x.key)?.modRevision ?? 0) : x.rev })),
              success: c.success,
            };
            assert.deepEqual(await s.txn(req), modelTxn(m, req, collapsed));
          } else if (c.kind === 'range') {
            const got = await s.range(c.prefix, { startKey: c.startKey, limit: c.limit });
            const want = modelRange(m, c.prefix, c.startKey, c.limit);
            assert.deepEqual(got.kvs.map((kv) => kv.key), want.keys);
            assert.deepEqual(got.kvs, want.keys.map((k) => m.kvs.get(k)));
            assert.deepEqual([got.more, got.count, got.revision], [want.more, want.count, m.rev]);
          } else if (c.kind === 'compact') {
            const rev = Math.max(0, m.rev - c.back);
            await s.compact(rev);
            m.compacted = Math.max(m.compacted, rev);
            assert.equal(await s.compactedRevision(), m.compacted);
          } else if (c.kind === 'tick') {
            await new Promise((r) => setImmediate(r));
          } else {
            const after = Math.max(m.compacted, m.rev - c.back);
            watches.push({ w: collect(s, c.prefix, after), prefix: c.prefix, after });
          }
          assert.equal(await s.revision(), m.rev);
        }
        const wanted = watches.map(({ prefix, after }) => m.events
          .filter((e) => e.revision > after)
          .map((e) => e.events.filter((ev) => ev.kv.key.startsWith(prefix)))
          .filter((evs) => evs.length > 0));
        for (const [i, { w }] of watches.entries()) {
          await w.until(() => w.batches.length >= wanted[i].length || w.errors.length > 0, 'the watch to catch up');
        }
        if (watches.length > 0) await sleep(2);
        for (const [i, { w }] of watches.entries()) {
          // A watcher still replaying when its history was compacted ends with
          // Compacted (as etcd does): what it got must then be a prefix of the truth.
          if (w.errors.length > 0) {
            assert.deepEqual(w.errors.map((e) => e.code), ['Compacted']);
            assert.deepEqual(w.batches, wanted[i].slice(0, w.batches.length));
          } else {
            assert.deepEqual(w.batches, wanted[i]);
          }
        }
      } finally {
        for (const { w } of watches) w.watcher.close();
        await s.close();
      }
    }), { numRuns });
  });
}

// ---------------------------------------------------------------------------

interface Collector {
  watcher: Watcher;
  batches: WatchEvent[][];
  errors: StoreError[];
  events(): WatchEvent[];
  /** The revision of each batch, in delivery order. */
  revisions(): number[];
  until(cond: () => boolean, what: string): Promise<void>;
}

function collect(s: Store, prefix: string, after: number, onBatch?: (events: WatchEvent[]) => void): Collector {
  const batches: WatchEvent[][] = [];
  const errors: StoreError[] = [];
  const cb: WatchCallbacks = {
    onEvents(events) {
      assert.ok(events.length > 0, 'no empty batch');
      assert.ok(events.every((e) => e.kv.modRevision === events[0].kv.modRevision), 'one revision per batch');
      batches.push(events);
      onBatch?.(events);
    },
    onError(err) {
      errors.push(err);
    },
  };
  const watcher = s.watch(prefix, after, cb);
  return {
    watcher,
    batches,
    errors,
    events: () => batches.flat(),
    revisions: () => batches.map((b) => b[0].kv.modRevision),
    until: async (cond, what) => {
      const deadline = Date.now() + 5000;
      while (!cond()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got revisions ${batches.map((b) => b[0].kv.modRevision).join(',')}, errors ${errors.map((e) => e.message).join('; ')}`);
        await sleep(1);
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Long enough for any delivery already scheduled to have run. */
function settle(): Promise<void> {
  return sleep(20);
}
