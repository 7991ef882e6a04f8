// The reflector driver and Informer against the stateful FakeClient, with a
// fake clock: paging, handlers, backoff on failures, relist after 410.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findByKind } from '../api/resources.js';
import { errors } from '../api/errors.js';
import { FakeClock } from './clock.js';
import { FakeClient } from './fake.js';
import { Informer, InformerFactory } from './informer.js';
import type { KObject } from './types.js';

const cms = findByKind('v1', 'ConfigMap')!;
const nodes = findByKind('v1', 'Node')!;
const cm = (ns: string, name: string, data: Record<string, string> = {}, lbl: Record<string, string> = {}): KObject =>
  ({ metadata: { namespace: ns, name, labels: lbl }, data });

/** Lets queued microtasks and promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    handler: {
      onAdd: (o: KObject) => log.push(`add ${o.metadata!.name}`),
      onUpdate: (old: KObject, o: KObject) => log.push(`update ${o.metadata!.name} ${JSON.stringify(old['data'])}→${JSON.stringify(o['data'])}`),
      onDelete: (o: KObject) => log.push(`delete ${o.metadata!.name}`),
    },
  };
}

test('paged initial list, then watch events reach the cache and handlers', async () => {
  const c = new FakeClient();
  for (const n of ['a', 'b', 'c', 'd', 'e']) await c.create(cms, 'ns', cm('ns', n));
  const clock = new FakeClock();
  const inf = new Informer(c, cms, { pageSize: 2, clock });
  const rec = recorder();
  inf.addEventHandler(rec.handler);
  const synced = inf.waitForSync();
  assert.equal(inf.hasSynced(), false);
  inf.start();
  await synced;
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 3, 'three pages');
  assert.deepEqual(inf.store.keys().sort(), ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e']);
  assert.deepEqual(rec.log.sort(), ['add a', 'add b', 'add c', 'add d', 'add e']);
  await settle();
  assert.equal(inf.phase, 'Watching');
  rec.log.length = 0;
  await c.create(cms, 'ns', cm('ns', 'f'));
  await c.patch(cms, 'ns', 'a', 'merge', { data: { k: 'v' } });
  await c.delete(cms, 'ns', 'b');
  await settle();
  assert.deepEqual(rec.log, ['add f', 'update a {}→{"k":"v"}', 'delete b']);
  assert.deepEqual(inf.store.get('ns', 'a')?.['data'], { k: 'v' });
  assert.equal(inf.store.get('ns', 'b'), undefined);
  // A handler registered late is replayed the cache as adds.
  const late = recorder();
  const reg = inf.addEventHandler(late.handler);
  assert.equal(late.log.length, 5);
  reg.dispose();
  await c.create(cms, 'ns', cm('ns', 'g'));
  await settle();
  assert.equal(late.log.length, 5, 'disposed handler hears nothing');
  inf.close();
  assert.equal(c.openWatches(), 0);
  assert.equal(clock.pending(), 0);
});

test('a watch that ends normally resumes from its rv without relisting', async () => {
  const c = new FakeClient();
  const inf = new Informer(c, cms, { clock: new FakeClock() });
  inf.start();
  await inf.waitForSync();
  await c.create(cms, 'ns', cm('ns', 'x'));
  await settle();
  c.endWatches();
  await c.create(cms, 'ns', cm('ns', 'y'));
  await settle();
  assert.deepEqual(inf.store.keys().sort(), ['ns/x', 'ns/y']);
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 1);
  assert.equal(c.calls.filter((x) => x.startsWith('watch')).length, 2);
  inf.close();
});

test('410 after compaction: relist with synthetic deletes, no lost or phantom objects', async () => {
  const c = new FakeClient();
  for (const n of ['keep', 'change', 'gone']) await c.create(cms, 'ns', cm('ns', n));
  const clock = new FakeClock();
  const inf = new Informer(c, cms, { clock });
  const rec = recorder();
  inf.addEventHandler(rec.handler);
  inf.start();
  await inf.waitForSync();
  await settle();
  rec.log.length = 0;
  // The watch ends before delivering anything, so the reflector waits its
  // backoff; meanwhile objects change and the history is compacted.
  c.endWatches();
  await settle();
  assert.equal(inf.phase, 'WatchPending');
  await c.patch(cms, 'ns', 'change', 'merge', { data: { v: '2' } });
  await c.delete(cms, 'ns', 'gone');
  await c.create(cms, 'ns', cm('ns', 'new'));
  c.compact();
  clock.advance(60_000);
  await settle();
  assert.equal(inf.phase, 'Watching');
  assert.deepEqual(inf.store.keys().sort(), ['ns/change', 'ns/keep', 'ns/new']);
  assert.deepEqual(inf.store.get('ns', 'change')?.['data'], { v: '2' });
  assert.ok(rec.log.includes('delete gone'), rec.log.join(', '));
  assert.ok(rec.log.includes('add new'));
  assert.ok(rec.log.includes('update change {}→{"v":"2"}'));
  assert.ok(!rec.log.some((l) => l.includes('keep')), 'unchanged objects are not reported');
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 2, 'exactly one relist');
  // And it keeps watching from the relist.
  await c.delete(cms, 'ns', 'keep');
  await settle();
  assert.deepEqual(inf.store.keys().sort(), ['ns/change', 'ns/new']);
  inf.close();
});

test('list failures back off on the clock (exponential, capped) until the server answers', async () => {
  const c = new FakeClient();
  await c.create(cms, 'ns', cm('ns', 'a'));
  const clock = new FakeClock();
  c.failNext('list', errors.serviceUnavailable('etcd is down'), 3);
  const inf = new Informer(c, cms, { clock, backoff: { initialMs: 100, maxMs: 300, jitter: 0 } });
  inf.start();
  await settle();
  assert.equal(inf.hasSynced(), false);
  assert.equal(inf.phase, 'Empty');
  clock.advance(99);
  await settle();
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 1);
  clock.advance(1);
  await settle();
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 2, 'retried after 100 ms');
  clock.advance(200);
  await settle();
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 3, 'then after 200 ms');
  clock.advance(299);
  await settle();
  assert.equal(c.calls.filter((x) => x.startsWith('list')).length, 3);
  clock.advance(1);
  await settle();
  assert.equal(inf.hasSynced(), true, 'then after the 300 ms cap');
  inf.close();
  assert.equal(clock.pending(), 0);
});

test('waitForSync rejects when closed first; close cancels a pending backoff', async () => {
  const c = new FakeClient();
  const clock = new FakeClock();
  c.failNext('list', new Error('down'));
  const inf = new Informer(c, cms, { clock });
  inf.start();
  const p = inf.waitForSync();
  await settle();
  assert.equal(clock.pending(), 1);
  inf.close();
  await assert.rejects(p, /closed before it synced/);
  assert.equal(clock.pending(), 0);
});

test('a throwing handler does not stop the others or the informer', async () => {
  const c = new FakeClient();
  const inf = new Informer(c, cms, { clock: new FakeClock() });
  const seen: string[] = [];
  inf.addEventHandler({ onAdd: () => { throw new Error('bug'); } });
  inf.addEventHandler({ onAdd: (o) => seen.push(o.metadata!.name!) });
  inf.start();
  await inf.waitForSync();
  await c.create(cms, 'ns', cm('ns', 'a'));
  await c.create(cms, 'ns', cm('ns', 'b'));
  await settle();
  assert.deepEqual(seen, ['a', 'b']);
  inf.close();
});

test('factory shares one informer per scope and starts late ones', async () => {
  const c = new FakeClient();
  await c.create(cms, 'a', cm('a', 'x', {}, { app: 'web' }));
  await c.create(cms, 'b', cm('b', 'y'));
  await c.create(nodes, undefined, { metadata: { name: 'n1' } });
  const f = new InformerFactory(c, { clock: new FakeClock() });
  const all = f.informer(cms);
  assert.equal(f.informer(cms), all);
  const inA = f.informer(cms, { namespace: 'a' });
  const web = f.informer(cms, { labelSelector: 'app=web' });
  assert.notEqual(inA, all);
  f.start();
  const late = f.informer(nodes);
  await f.waitForSync();
  assert.deepEqual(all.store.keys().sort(), ['a/x', 'b/y']);
  assert.deepEqual(inA.store.keys(), ['a/x']);
  assert.deepEqual(web.store.keys(), ['a/x']);
  assert.deepEqual(late.store.keys(), ['n1']);
  assert.equal(f.existing(cms, { namespace: 'zzz' }), undefined);
  f.close();
  assert.equal(c.openWatches(), 0);
  assert.throws(() => f.informer(cms), /closed/);
});
