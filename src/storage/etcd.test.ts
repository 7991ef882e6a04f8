// The etcd backend against a real etcd (/usr/bin/etcd, started here on
// loopback): the shared conformance suite, each test on a fresh etcd (the
// suite counts revisions from an empty store), then what only a remote,
// shared store has: failover, etcd going away and coming back, a watch that
// survives its stream, and two clients writing to one etcd.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeConformance } from './conformance.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd.js';
import { openStore } from './index.js';
import { StoreError, createKey, updateKey, type Store, type WatchEvent } from './store.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../../test/lib/etcd.js';

const missing = etcdMissing();

if (missing) {
  test('etcd backend', { skip: `etcd tests skipped: ${missing}` }, () => {});
} else {
  // One etcd is started ahead while the current test runs: each test gets an
  // empty one without waiting for the whole startup.
  let spare: Promise<EtcdCluster> | undefined;
  const clusters = new Set<EtcdCluster>();
  const freshEtcd = (): Promise<EtcdCluster> => {
    const next = spare ?? startEtcd();
    spare = startEtcd();
    spare.catch(() => undefined);
    return next.then((c) => {
      clusters.add(c);
      return c;
    });
  };
  after(async () => {
    const s = spare;
    spare = undefined;
    if (s) clusters.add(await s);
    await Promise.all([...clusters].map((c) => c.destroy()));
  });

  /** A store that takes its etcd down with it. */
  class TestEtcdStore extends EtcdStore {
    constructor(private readonly cluster: EtcdCluster, options?: EtcdStoreOptions) {
      super(cluster.endpoints.split(','), options);
    }

    override async close(): Promise<void> {
      await super.close();
      await this.cluster.destroy();
      clusters.delete(this.cluster);
    }
  }

  storeConformance('etcd', async () => new TestEtcdStore(await freshEtcd()), { propertyRuns: 40, sameKeyOps: 'collapsed' });

  const collector = (s: Store, prefix: string, afterRevision: number) => {
    const batches: WatchEvent[][] = [];
    const errors: StoreError[] = [];
    const watcher = s.watch(prefix, afterRevision, { onEvents: (e) => batches.push(e), onError: (e) => errors.push(e) });
    const until = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; revisions ${batches.map((b) => b[0]!.kv.modRevision).join(',')}; errors ${errors.map((e) => e.message).join('; ')}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    return { watcher, batches, errors, until, events: () => batches.flat(), revisions: () => batches.map((b) => b[0]!.kv.modRevision) };
  };

  test('etcd: revisions are etcd\'s minus one, as etcd itself reports them', async () => {
    const c = await freshEtcd();
    const s = new EtcdStore([c.members[0]!.clientURL]);
    try {
      const kv = await createKey(s, '/r', 'v');
      assert.equal(kv?.modRevision, 1);
      const raw = await (await fetch(`${c.members[0]!.clientURL}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/r').toString('base64') }) })).json() as { header: { revision: string }; kvs: { mod_revision: string }[] };
      assert.equal(raw.header.revision, '2');
      assert.equal(raw.kvs[0]!.mod_revision, '2');
    } finally {
      await s.close();
      await c.destroy();
    }
  });

  test('etcd: openStore checks the endpoints; a dead endpoint is skipped', async () => {
    const c = await freshEtcd();
    const dead = 'http://127.0.0.1:9'; // discard port: nothing listens
    try {
      await assert.rejects(openStore(`etcd:${dead}`), (e: unknown) => e instanceof StoreError && e.code === 'Unavailable' && /127\.0\.0\.1:9/.test(e.message));
      await assert.rejects(openStore('etcd:https://127.0.0.1:2379'), /only http:\/\/ is supported/);
      const s = await openStore(`etcd:${dead},${c.endpoints}`);
      assert.equal(s.kind, 'etcd');
      await createKey(s, '/a', '1');
      assert.equal((await s.get('/a'))?.value, '1');
      await s.close();
    } finally {
      await c.destroy();
    }
  });

  test('etcd: down means Unavailable; back up, requests and watches go on where they stopped', async () => {
    const c = await freshEtcd();
    const m = c.members[0]!;
    const s = new EtcdStore([m.clientURL], { watchRetryMs: 20_000 });
    try {
      await createKey(s, '/u/a', '1'); // 1
      const w = collector(s, '/u/', 0);
      await w.until(() => w.batches.length === 1, 'the first event');
      await m.stop();
      const unavailable = (e: unknown): boolean => e instanceof StoreError && e.code === 'Unavailable';
      await assert.rejects(s.get('/u/a'), unavailable);
      await assert.rejects(createKey(s, '/u/b', '1'), unavailable);
      await assert.rejects(s.revision(), unavailable);
      await new Promise((r) => setTimeout(r, 300)); // the watch retries meanwhile
      await m.start();
      await createKey(s, '/u/b', '2'); // 2
      await updateKey(s, '/u/a', '3', 1); // 3
      await w.until(() => w.batches.length === 3, 'the events after the restart');
      assert.deepEqual(w.revisions(), [1, 2, 3]);
      assert.deepEqual(w.batches[2], [{
        type: 'put',
        kv: { key: '/u/a', value: '3', createRevision: 1, modRevision: 3, version: 2 },
        prevKv: { key: '/u/a', value: '1', createRevision: 1, modRevision: 1, version: 1 },
      }]);
      assert.deepEqual(w.errors, []);
      w.watcher.close();
    } finally {
      await s.close();
      await c.destroy();
    }
  });

  test('etcd: a watch that cannot reconnect ends with Unavailable', async () => {
    const c = await freshEtcd();
    const s = new EtcdStore([c.members[0]!.clientURL], { watchRetryMs: 300 });
    try {
      const w = collector(s, '', 0);
      await createKey(s, '/x', '1');
      await w.until(() => w.batches.length === 1, 'the event');
      await c.members[0]!.stop();
      await w.until(() => w.errors.length === 1, 'the error');
      assert.equal(w.errors[0]!.code, 'Unavailable');
      assert.equal((s as EtcdStore).watcherCount, 0);
    } finally {
      await s.close();
      await c.destroy();
    }
  });

  test('etcd: three members, the one in use killed: requests fail over, the watch resumes without loss or repeat', async () => {
    const c = await startEtcd(3);
    clusters.add(c);
    const s = new EtcdStore(c.endpoints.split(','));
    const writer = new EtcdStore([...c.endpoints.split(',')].reverse());
    try {
      const w = collector(s, '/f/', 0);
      let n = 0;
      const write = async (): Promise<void> => {
        for (;;) {
          try {
            await createKey(writer, `/f/${n}`, 'v');
            n++;
            return;
          } catch (e) {
            // A write cut off by the kill may or may not have landed: look.
            if (!(e instanceof StoreError && e.code === 'Unavailable')) throw e;
            if (await writer.get(`/f/${n}`).catch(() => undefined)) { n++; return; }
          }
        }
      };
      for (let i = 0; i < 20; i++) await write();
      await w.until(() => w.batches.length === 20, 'the first 20');
      await c.members[0]!.stop(); // the member both s and its watch use
      const writes = (async () => { for (let i = 0; i < 30; i++) await write(); })();
      assert.equal((await s.range('/f/', { countOnly: true })).count >= 20, true, 'reads fail over');
      await writes;
      await createKey(s, '/f/through-s', 'v');
      await w.until(() => w.events().length === n + 1, 'every write');
      const keys = w.batches.flat().map((e) => e.kv.key);
      assert.equal(new Set(keys).size, keys.length, 'no event twice');
      const revs = w.revisions();
      assert.deepEqual(revs, [...revs].sort((a, b) => a - b), 'in order');
      assert.deepEqual(w.errors, []);
      w.watcher.close();
    } finally {
      await s.close();
      await writer.close();
    }
  });

  test('etcd: two clients on one etcd: one revision sequence, compare-and-swap between them, watches see both', async () => {
    const c = await freshEtcd();
    const a = new EtcdStore(c.endpoints.split(','));
    const b = new EtcdStore(c.endpoints.split(','));
    try {
      const wa = collector(a, '/s/', 0);
      const kv = await createKey(a, '/s/k', 'a'); // 1
      assert.equal(await createKey(b, '/s/k', 'b'), undefined, 'b sees a\'s key');
      assert.ok(await updateKey(b, '/s/k', 'b', kv!.modRevision)); // 2
      assert.equal(await updateKey(a, '/s/k', 'a2', kv!.modRevision), undefined, 'a\'s stale compare fails');
      assert.equal(await a.revision(), 2);
      await wa.until(() => wa.batches.length === 2, 'both writes');
      assert.deepEqual(wa.events().map((e) => e.kv.value), ['a', 'b']);
      // b writes past what a has seen; a watch from there is not a future revision for a.
      await createKey(b, '/s/later', 'x'); // 3
      const wl = collector(a, '/s/', 3);
      await createKey(b, '/s/last', 'x'); // 4
      await wl.until(() => wl.batches.length === 1, 'the next write');
      assert.deepEqual(wl.errors, []);
      // b compacts; a learns it when its watch from before fails.
      await b.compact(3);
      const old = collector(a, '/s/', 1);
      await old.until(() => old.errors.length === 1, 'Compacted');
      assert.equal(old.errors[0]!.code, 'Compacted');
      assert.equal(await a.compactedRevision(), 3);
      assert.throws(() => a.watch('/s/', 2, { onEvents() {} }), (e: unknown) => e instanceof StoreError && e.code === 'Compacted');
      for (const w of [wa, wl, old]) w.watcher.close();
    } finally {
      await a.close();
      await b.close();
      await c.destroy();
    }
  });
}
