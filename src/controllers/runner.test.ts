// runController: unit tests over the stateful FakeClient and a fake clock
// (error paths, backoff, requeueAfter, events), then a toy mirror controller
// against the real API server, converging through a conflicting write.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errors } from '../api/errors.js';
import { findByKind, type ResourceInfo } from '../api/resources.js';
import { FakeClock } from '../client/clock.js';
import { FakeClient } from '../client/fake.js';
import { HttpClient } from '../client/http.js';
import { InformerFactory } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import type { Client, KObject } from '../client/types.js';
import { startHarness, type Harness } from '../../test/lib/harness.js';
import { runController } from './runner.js';
import type { Action, Cache, Plan, Reconciler } from './types.js';

const cms = findByKind('v1', 'ConfigMap')!;
const events = findByKind('v1', 'Event')!;
const namespaces = findByKind('v1', 'Namespace')!;

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise<void>((r) => setImmediate(r));
}

async function eventually(pred: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const data = (o: KObject | undefined) => (o?.['data'] ?? {}) as Record<string, string>;
const sameData = (a: KObject, b: KObject) => JSON.stringify(data(a)) === JSON.stringify(data(b));

/**
 * The toy controller: every ConfigMap labelled mirror=yes has a `<name>-copy`
 * with the same data; copies whose source is gone (or unlabelled) are deleted.
 */
function mirror(opts: { explode?: string } = {}): Reconciler {
  return {
    name: 'mirror-controller',
    watches: [cms],
    keysFor(_r: ResourceInfo, obj: KObject): string[] {
      const md = obj.metadata!;
      const src = md.labels?.['mirrored-from'];
      return [`${md.namespace}/${src ?? md.name}`];
    },
    reconcile(key: string, cache: Cache): Plan {
      const [ns, name] = key.split('/') as [string, string];
      if (name === opts.explode) throw new Error(`cannot mirror ${name}`);
      const src = cache.get(cms, ns, name);
      const copy = cache.get(cms, ns, `${name}-copy`);
      const wanted = src && src.metadata?.labels?.['mirror'] === 'yes';
      const actions: Action[] = [];
      const evs: Plan['events'] = [];
      if (wanted) {
        if (!copy) {
          actions.push({ verb: 'create', resource: cms, namespace: ns, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-copy`, namespace: ns, labels: { 'mirrored-from': name } }, data: data(src) } });
          evs.push({ involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name, uid: src.metadata?.uid }, type: 'Normal', reason: 'Mirrored', message: `created ${name}-copy` });
        } else if (!sameData(src, copy)) {
          // A PUT carrying the cached resourceVersion: a stale cache gets 409 Conflict.
          actions.push({ verb: 'update', resource: cms, namespace: ns, object: { ...copy, data: data(src) } });
        }
      } else if (copy && copy.metadata?.labels?.['mirrored-from'] === name) {
        actions.push({ verb: 'delete', resource: cms, namespace: ns, name: `${name}-copy`, preconditions: { uid: copy.metadata.uid } });
      }
      return { actions, events: evs };
    },
  };
}

/** A client whose ConfigMap watch events are held back while `hold()` is on, until `release()` delivers them. */
function holdConfigMapEvents(c: Client): { client: Client; hold(): void; release(): void } {
  let holding = false;
  const held: (() => void)[] = [];
  const client = new Proxy(c, {
    get(target, prop, recv) {
      if (prop === 'watch') {
        return (r: ResourceInfo, ns: string | undefined, opts: object, onEvent: (e: unknown) => void, onClose: (e?: Error) => void) =>
          target.watch(r, ns, opts, (e) => {
            if (holding && r.plural === 'configmaps') held.push(() => onEvent(e));
            else onEvent(e);
          }, onClose);
      }
      return Reflect.get(target, prop, recv) as unknown;
    },
  }) as Client;
  return {
    client,
    hold: () => { holding = true; },
    release: () => {
      holding = false;
      for (const deliver of held.splice(0)) deliver();
    },
  };
}

describe('runController (fake client, fake clock)', () => {
  test('converges; a reconciler that throws for one key is retried with backoff and stops nothing else', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    await c.create(cms, 'ns', { metadata: { name: 'a', labels: { mirror: 'yes' } }, data: { k: 'a' } });
    await c.create(cms, 'ns', { metadata: { name: 'boom', labels: { mirror: 'yes' } } });
    const f = new InformerFactory(c, { clock });
    const ctl = runController(mirror({ explode: 'boom' }), { client: c, informers: f, clock, workers: 2 });
    await ctl.waitForSync();
    await settle();
    assert.deepEqual(data(await c.get(cms, 'ns', 'a-copy')), { k: 'a' });
    await c.create(cms, 'ns', { metadata: { name: 'b', labels: { mirror: 'yes' } }, data: { k: 'b' } });
    await settle();
    assert.deepEqual(data(await c.get(cms, 'ns', 'b-copy')), { k: 'b' });
    const before = ctl.metrics();
    assert.equal(before.errors, 1);
    assert.match(before.lastError!, /cannot mirror boom/);
    // boom's retries follow the backoff on the clock: 5, 10, 20 ms…
    clock.advance(5); await settle();
    clock.advance(10); await settle();
    clock.advance(20); await settle();
    assert.equal(ctl.metrics().errors, 4);
    assert.equal(ctl.metrics().retries, 4);
    await ctl.close();
    f.close();
    assert.equal(clock.pending(), 0, 'close cancels delayed requeues');
  });

  test('create of an existing object and delete of a missing one count as success; other failures stop the plan and retry', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    await c.create(cms, 'ns', { metadata: { name: 'exists' } });
    await c.create(cms, 'ns', { metadata: { name: 'trigger' } });
    let calls = 0;
    const r: Reconciler = {
      name: 'idempotent', watches: [cms],
      keysFor: (_r, o) => (o.metadata?.name === 'trigger' ? ['ns/trigger'] : []),
      reconcile: () => {
        calls++;
        return { actions: [
          { verb: 'create', resource: cms, namespace: 'ns', object: { metadata: { name: 'exists' } } },
          { verb: 'delete', resource: cms, namespace: 'ns', name: 'missing' },
          { verb: 'create', resource: cms, namespace: 'ns', object: { metadata: { name: 'last' } } },
        ] };
      },
    };
    c.failNext('create', errors.internal('etcd hiccup'), 1);
    const f = new InformerFactory(c, { clock });
    const ctl = runController(r, { client: c, informers: f, clock, workers: 1 });
    await ctl.waitForSync();
    await settle();
    assert.equal(calls, 1);
    assert.equal(ctl.metrics().errors, 1, 'the injected 500 failed the first action');
    await assert.rejects(c.get(cms, 'ns', 'last'), /not found/, 'later actions were not attempted');
    clock.advance(5);
    await settle();
    assert.equal(calls, 2);
    assert.equal(ctl.metrics().errors, 1, 'AlreadyExists and NotFound are not errors');
    assert.equal((await c.get(cms, 'ns', 'last')).metadata?.name, 'last');
    clock.advance(10_000);
    await settle();
    assert.equal(calls, 2, 'a clean plan is forgotten: no more retries');
    await ctl.close();
    f.close();
  });

  test('requeueAfterMs reconciles again on the clock', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    await c.create(cms, 'ns', { metadata: { name: 'x' } });
    const seen: number[] = [];
    const r: Reconciler = {
      name: 'ticker', watches: [cms],
      keysFor: (_r, o) => [`ns/${o.metadata!.name}`],
      reconcile: (_k, _c, now) => { seen.push(now.getTime()); return { actions: [], requeueAfterMs: 1000 }; },
    };
    const f = new InformerFactory(c, { clock });
    const ctl = runController(r, { client: c, informers: f, clock });
    await ctl.waitForSync();
    await settle();
    clock.advance(999); await settle();
    assert.deepEqual(seen, [0]);
    clock.advance(1); await settle();
    clock.advance(1000); await settle();
    assert.deepEqual(seen, [0, 1000, 2000]);
    await ctl.close();
    f.close();
    assert.equal(clock.pending(), 0);
  });

  test('events: named <object>.<hex time>, bumped when repeated', async () => {
    const c = new FakeClient();
    const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
    await c.create(cms, 'ns', { metadata: { name: 'x' } });
    const r: Reconciler = {
      name: 'noisy', watches: [cms],
      keysFor: (_r, o) => [`ns/${o.metadata!.name}`],
      reconcile: (key) => ({ actions: [], events: [{ involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: key.split('/')[1]! }, type: 'Warning', reason: 'Odd', message: 'odd config' }] }),
    };
    const f = new InformerFactory(c, { clock });
    const ctl = runController(r, { client: c, informers: f, clock });
    await ctl.waitForSync();
    await settle();
    clock.advance(60_000);
    await c.patch(cms, 'ns', 'x', 'merge', { data: { a: 'b' } });
    await settle();
    await ctl.close();
    const evs = (await c.list(events, 'ns')).items;
    assert.equal(evs.length, 1);
    const ev = evs[0]!;
    assert.match(ev.metadata!.name!, /^x\.[0-9a-f]+$/);
    assert.equal(ev['count'], 2);
    assert.equal(ev['reason'], 'Odd');
    assert.equal(ev['type'], 'Warning');
    assert.deepEqual(ev['source'], { component: 'noisy' });
    assert.equal(ev['firstTimestamp'], '2026-01-01T00:00:00Z');
    assert.equal(ev['lastTimestamp'], '2026-01-01T00:01:00Z');
    assert.equal(ctl.metrics().eventsRecorded, 2);
    f.close();
  });

  test('a key waiting to see its own write frees its worker, but is not reconciled again until the write is visible', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    for (const n of ['a', 'b']) await c.create(cms, 'ns', { metadata: { name: n } });
    // ConfigMap watch events are held while holding: the controller's writes stay invisible to it.
    const h = holdConfigMapEvents(c);
    const holding = h.client;
    const seen: string[] = [];
    const r: Reconciler = {
      name: 'marker', watches: [cms, events],
      keysFor: (_r, o) => [`ns/${o.metadata!.name}`],
      reconcile: (key, cache) => {
        const name = key.split('/')[1]!;
        const o = cache.get(cms, 'ns', name);
        seen.push(`${name}:${o?.metadata?.labels?.['done'] ?? 'no'}`);
        if (!o || o.metadata?.labels?.['done']) return { actions: [] };
        return { actions: [{ verb: 'patch', resource: cms, namespace: 'ns', name, patchType: 'merge', patch: { metadata: { labels: { done: 'yes' } } } }] };
      },
    };
    const f = new InformerFactory(holding, { clock });
    const ctl = runController(r, { client: holding, informers: f, clock, workers: 1 });
    h.hold();
    await ctl.waitForSync();
    await settle();
    // One worker, and a's write not visible: b was reconciled all the same.
    assert.deepEqual(seen.sort(), ['a:no', 'b:no']);
    assert.equal((await c.get(cms, 'ns', 'b')).metadata?.labels?.['done'], 'yes');
    // A change of another watched object that maps to a (an Event named a): a is still in flight, so it waits.
    await c.create(events, 'ns', { metadata: { name: 'a' } });
    await settle();
    assert.deepEqual(seen.sort(), ['a:no', 'b:no']);
    // The write shows up: a is reconciled again, against a cache that has it.
    h.release();
    await settle();
    assert.deepEqual(seen.sort(), ['a:no', 'a:yes', 'b:no']);
    await ctl.close();
    f.close();
    assert.equal(clock.pending(), 0);
  });

  test('declared indexes are added to the shared informer and read through cache.byIndex; others are undefined', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    await c.create(cms, 'ns', { metadata: { name: 'a', labels: { team: 'red' } } });
    await c.create(cms, 'ns', { metadata: { name: 'b', labels: { team: 'blue' } } });
    const byTeam = { resource: cms, name: 'by-team', values: (o: KObject) => { const t = o.metadata?.labels?.['team']; return t ? [t] : []; } };
    const seen: string[] = [];
    const r: Reconciler = {
      name: 'indexed', watches: [cms], indexes: [byTeam],
      keysFor: (_r, o) => [`ns/${o.metadata!.name}`],
      reconcile: (key, cache) => {
        const team = cache.get(cms, 'ns', key.split('/')[1]!)?.metadata?.labels?.['team'] ?? '';
        seen.push(`${key}:${(cache.byIndex?.(cms, 'by-team', team) ?? []).map((o) => o.metadata!.name).join(',')}:${cache.byIndex?.(cms, 'undeclared', team) === undefined}`);
        return { actions: [] };
      },
    };
    const f = new InformerFactory(c, { clock });
    const ctl = runController(r, { client: c, informers: f, clock });
    await ctl.waitForSync();
    await settle();
    assert.deepEqual(seen.sort(), ['ns/a:a:true', 'ns/b:b:true']);
    // Kept up to date: b joins red.
    await c.patch(cms, 'ns', 'b', 'merge', { metadata: { labels: { team: 'red' } } });
    await settle();
    assert.deepEqual(seen.at(-1), 'ns/b:a,b:true');
    assert.deepEqual(f.existing(cms)!.store.byIndex('by-team', 'blue'), []);
    // An index over a resource the controller does not watch is a bug, reported at once.
    assert.throws(() => runController({ ...r, name: 'bad', indexes: [{ ...byTeam, resource: events }] }, { client: c, informers: f, clock }), /indexes events but does not watch it/);
    await ctl.close();
    f.close();
  });

  test('close does not wait for writes that never show up', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    await c.create(cms, 'ns', { metadata: { name: 'a' } });
    const h = holdConfigMapEvents(c);
    const holding = h.client;
    const r: Reconciler = {
      name: 'marker', watches: [cms],
      keysFor: (_r, o) => [`ns/${o.metadata!.name}`],
      reconcile: (key, cache) => {
        const o = cache.get(cms, 'ns', key.split('/')[1]!);
        if (!o || o.metadata?.labels?.['done']) return { actions: [] };
        return { actions: [{ verb: 'patch', resource: cms, namespace: 'ns', name: o.metadata!.name!, patchType: 'merge', patch: { metadata: { labels: { done: 'yes' } } } }] };
      },
    };
    const f = new InformerFactory(holding, { clock });
    const ctl = runController(r, { client: holding, informers: f, clock });
    h.hold();
    await ctl.waitForSync();
    await settle();
    assert.equal((await c.get(cms, 'ns', 'a')).metadata?.labels?.['done'], 'yes');
    // The visibility wait's timer is on the fake clock and never fires: close ends it.
    await ctl.close();
    f.close();
    assert.equal(clock.pending(), 0);
  });

  test('close before the caches sync rejects waitForSync and leaves nothing running', async () => {
    const c = new FakeClient();
    const clock = new FakeClock();
    c.failNext('list', new Error('down'), 100);
    const f = new InformerFactory(c, { clock });
    const ctl = runController(mirror(), { client: c, informers: f, clock });
    const synced = ctl.waitForSync();
    await settle();
    await ctl.close();
    await assert.rejects(synced, /closed before its caches synced/);
    f.close();
    assert.equal(clock.pending(), 0);
  });
});

describe('runController against the API server', () => {
  let h: Harness;
  let http: HttpClient;
  const ns = 'mirror';

  before(async () => {
    h = await startHarness();
    http = new HttpClient(loadKubeconfig(h.kubeconfig));
    await http.create(namespaces, undefined, { metadata: { name: ns } });
  });
  after(async () => {
    http?.close();
    await h?.close();
  });

  test('the mirror controller converges, including after a conflicting write', async () => {
    // A client whose first update of a copy races another writer: the copy
    // changes on the server just before our PUT, so the PUT gets 409 Conflict.
    let raced = false;
    const racing = new Proxy(http, {
      get(target, prop, recv) {
        if (prop === 'update') {
          return async (r: ResourceInfo, n: string | undefined, obj: KObject) => {
            if (!raced && obj.metadata?.name?.endsWith('-copy')) {
              raced = true;
              await target.patch(r, n, obj.metadata.name, 'merge', { metadata: { annotations: { 'someone-else': 'was-here' } } });
            }
            return target.update(r, n, obj, { fieldManager: 'mirror-controller' });
          };
        }
        return Reflect.get(target, prop, recv) as unknown;
      },
    }) as Client;
    const f = new InformerFactory(racing);
    const ctl = runController(mirror(), { client: racing, informers: f, workers: 2 });
    try {
      await ctl.waitForSync();
      await http.create(cms, ns, { metadata: { name: 'src', labels: { mirror: 'yes' } }, data: { k: '1' } });
      await http.create(cms, ns, { metadata: { name: 'plain' }, data: { k: 'p' } });
      await eventually(async () => data(await http.get(cms, ns, 'src-copy').catch(() => undefined)).k === '1', 'src-copy');

      await http.patch(cms, ns, 'src', 'merge', { data: { k: '2', extra: 'x' } });
      await eventually(async () => { const d = data(await http.get(cms, ns, 'src-copy')); return d.k === '2' && d.extra === 'x'; }, 'src-copy updated after a conflict');
      assert.equal(raced, true);
      assert.ok(ctl.metrics().errors >= 1, 'the 409 was counted');
      assert.match(ctl.metrics().lastError ?? '', /update configmaps mirror\/src-copy: Operation cannot be fulfilled/);

      // Someone edits the copy: the controller puts it back (level-triggered, keyed by the source).
      await http.patch(cms, ns, 'src-copy', 'merge', { data: { k: 'tampered' } });
      await eventually(async () => data(await http.get(cms, ns, 'src-copy')).k === '2', 'the copy restored');

      await http.delete(cms, ns, 'src');
      await eventually(async () => (await http.get(cms, ns, 'src-copy').catch(() => undefined)) === undefined, 'the orphan copy deleted');
      const names = (await http.list(cms, ns)).items.map((o) => o.metadata!.name).sort();
      assert.deepEqual(names, ['plain']);

      const evs = (await http.list(events, ns)).items.filter((e) => (e['involvedObject'] as { name: string }).name === 'src');
      assert.equal(evs.length, 1);
      assert.equal(evs[0]!['reason'], 'Mirrored');
      assert.deepEqual(evs[0]!['source'], { component: 'mirror-controller' });
    } finally {
      await ctl.close();
      f.close();
    }
  });
});
