import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findByKind } from '../api/resources.js';
import { FakeClock } from '../client/clock.js';
import { FakeClient } from '../client/fake.js';
import type { KObject } from '../client/types.js';
import { startControllerManager } from './manager.js';
import type { Reconciler } from './types.js';

const cms = findByKind('v1', 'ConfigMap')!;

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Labels every ConfigMap with `<label>=done`. */
function labeller(label: string): Reconciler {
  return {
    name: `${label}-controller`,
    watches: [cms],
    keysFor: (_r, o: KObject) => [`${o.metadata!.namespace}/${o.metadata!.name}`],
    reconcile(key, cache) {
      const [ns, name] = key.split('/') as [string, string];
      const o = cache.get(cms, ns, name);
      if (!o || o.metadata?.labels?.[label] === 'done') return { actions: [] };
      return { actions: [{ verb: 'patch', resource: cms, namespace: ns, name, patchType: 'merge', patch: { metadata: { labels: { [label]: 'done' } } } }] };
    },
  };
}

test('controllers share one informer per resource and all converge; close stops everything', async () => {
  const c = new FakeClient();
  const clock = new FakeClock();
  await c.create(cms, 'ns', { metadata: { name: 'one' } });
  const m = startControllerManager(c, [labeller('red'), labeller('blue')], { clock, workers: { 'red-controller': 1 } });
  assert.equal(m.controllers.length, 2);
  await m.waitForSync();
  await c.create(cms, 'ns', { metadata: { name: 'two' } });
  await settle();
  for (const n of ['one', 'two']) {
    assert.deepEqual((await c.get(cms, 'ns', n)).metadata?.labels, { red: 'done', blue: 'done' });
  }
  assert.equal(c.calls.filter((x) => x.startsWith('list configmaps')).length, 1, 'one list for both controllers');
  assert.equal(c.openWatches(), 1);
  await m.close();
  await m.close();
  assert.equal(c.openWatches(), 0);
  assert.equal(clock.pending(), 0);
});

test('duplicate controller names are refused', () => {
  assert.throws(() => startControllerManager(new FakeClient(), [labeller('x'), labeller('x')]), /two controllers are named x-controller/);
});

test('cached objects carry trimmed managedFields (kube-controller-manager drops them); updates built from them send none', async () => {
  const fieldSets = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }];
  for (const transform of ['default', 'none'] as const) {
    const c = new FakeClient();
    const sent: KObject[] = [];
    const update = c.update.bind(c);
    c.update = (r, ns, o, opts) => { sent.push(o); return update(r, ns, o, opts); };
    await c.create(cms, 'ns', { metadata: { name: 'one', managedFields: fieldSets } });
    const cached: unknown[] = [];
    const stamper: Reconciler = {
      name: 'stamper', watches: [cms],
      keysFor: (_r, o: KObject) => [`${o.metadata!.namespace}/${o.metadata!.name}`],
      reconcile(key, cache) {
        const [ns, name] = key.split('/') as [string, string];
        const o = cache.get(cms, ns, name);
        if (!o || o['data']) return { actions: [] };
        cached.push(o.metadata?.managedFields);
        return { actions: [{ verb: 'update', resource: cms, namespace: ns, object: { ...o, data: { stamped: 'yes' } } }] };
      },
    };
    const m = startControllerManager(c, [stamper], { clock: new FakeClock(), ...(transform === 'none' ? { informers: { transform: undefined } } : {}) });
    await m.waitForSync();
    await settle();
    await m.close();
    assert.equal(sent.length, 1, transform);
    if (transform === 'default') {
      assert.deepEqual(cached, [[{ manager: 'kubectl', operation: 'Update' }]]);
      assert.equal(sent[0]!.metadata?.managedFields, undefined, 'the server keeps its own');
    } else {
      assert.deepEqual(cached, [fieldSets]);
      assert.deepEqual(sent[0]!.metadata?.managedFields, fieldSets);
    }
  }
});
