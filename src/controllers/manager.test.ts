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
