import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { ownerRef, pod, replicaSet, T0 } from '../testing/builders.js';
import { podsToDelete, replicaSetController } from './replicaset.js';
import type { Action } from '../types.js';
import type { KObject } from '../../client/types.js';

const NOW = new Date('2024-01-01T01:00:00Z');
const rsRef = ownerRef('ReplicaSet', 'web', 'uid-web');
const owned = (name: string, o: Parameters<typeof pod>[1] = {}): KObject => pod(name, { labels: { app: 'web' }, owner: rsRef, ...o });

function summarize(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.verb) {
      case 'create': return `create ${a.resource.plural} ${(a.object.metadata?.generateName ?? a.object.metadata?.name)}`;
      case 'delete': return `delete ${a.resource.plural} ${a.name}`;
      case 'patch': return `patch ${a.resource.plural} ${a.name}${a.subresource ? '/' + a.subresource : ''}`;
      case 'update': return `update ${a.resource.plural} ${a.object.metadata?.name}${a.subresource ? '/' + a.subresource : ''}`;
    }
  });
}

const rc = replicaSetController();

const cases: { name: string; objs: KObject[]; want: string[]; status?: Record<string, number> }[] = [
  {
    name: 'creates missing pods from the template',
    objs: [replicaSet('web', { replicas: 3 }), owned('web-a', { node: 'n1', ready: true })],
    want: ['create pods web-', 'create pods web-', 'update replicasets web/status'],
    status: { replicas: 1, readyReplicas: 1, availableReplicas: 1, fullyLabeledReplicas: 1, observedGeneration: 1 },
  },
  {
    name: 'nothing to do when converged and status is current',
    objs: [
      replicaSet('web', { replicas: 1, status: { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 } }),
      owned('web-a', { node: 'n1', ready: true }),
    ],
    want: [],
  },
  {
    name: 'terminating and finished pods do not count',
    objs: [
      replicaSet('web', { replicas: 2 }),
      owned('web-a', { node: 'n1', ready: true }),
      owned('web-b', { node: 'n1', deleting: true }),
      owned('web-c', { node: 'n1', phase: 'Failed' }),
    ],
    want: ['create pods web-', 'update replicasets web/status'],
  },
  {
    name: 'deletes extras: unscheduled before pending before not-ready before ready',
    objs: [
      replicaSet('web', { replicas: 1 }),
      owned('ready', { node: 'n1', ready: true }),
      owned('notready', { node: 'n1', ready: false }),
      owned('pending', { node: 'n1', phase: 'Pending' }),
      owned('unscheduled'),
    ],
    want: ['delete pods unscheduled', 'delete pods pending', 'delete pods notready', 'update replicasets web/status'],
  },
  {
    name: 'adopts a matching orphan and releases an owned pod that no longer matches',
    objs: [
      replicaSet('web', { replicas: 1 }),
      pod('orphan', { labels: { app: 'web' }, node: 'n1', ready: true }),
      owned('relabelled', { labels: { app: 'other' }, node: 'n1' }),
      pod('foreign', { labels: { app: 'web' }, owner: ownerRef('ReplicaSet', 'x', 'uid-x'), node: 'n1' }),
    ],
    want: ['patch pods orphan', 'patch pods relabelled', 'update replicasets web/status'],
  },
  {
    name: 'a ReplicaSet being deleted creates nothing',
    objs: [{ ...replicaSet('web', { replicas: 2 }), metadata: { ...replicaSet('web').metadata, deletionTimestamp: T0 } }],
    want: ['update replicasets web/status'],
  },
];

for (const c of cases) {
  test(`replicaset: ${c.name}`, () => {
    const plan = rc.reconcile('default/web', new FakeCache(c.objs), NOW);
    assert.deepEqual(summarize(plan.actions), c.want);
    if (c.status) {
      const upd = plan.actions.find((a) => a.verb === 'update');
      assert.ok(upd && upd.verb === 'update');
      const st = upd.object['status'] as Record<string, number>;
      for (const [k, v] of Object.entries(c.status)) assert.equal(st[k], v, k);
    }
  });
}

test('replicaset: created pods carry the template labels and a controller reference', () => {
  const plan = rc.reconcile('default/web', new FakeCache([replicaSet('web', { replicas: 1 })]), NOW);
  const create = plan.actions[0];
  assert.ok(create?.verb === 'create');
  assert.deepEqual(create.object.metadata?.labels, { app: 'web' });
  assert.equal(create.object.metadata?.generateName, 'web-');
  assert.deepEqual(create.object.metadata?.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
});

test('replicaset: availability waits for minReadySeconds and requeues', () => {
  const c = new FakeCache([
    replicaSet('web', { replicas: 1, minReadySeconds: 30 }),
    owned('web-a', { node: 'n1', ready: true, readySince: '2024-01-01T00:59:50Z' }),
  ]);
  const plan = rc.reconcile('default/web', c, NOW);
  const upd = plan.actions.find((a) => a.verb === 'update');
  assert.ok(upd?.verb === 'update');
  assert.equal((upd.object['status'] as { readyReplicas: number }).readyReplicas, 1);
  assert.equal((upd.object['status'] as { availableReplicas: number }).availableReplicas, 0);
  assert.equal(plan.requeueAfterMs, 21_000);
});

test('replicaset: deletion ranking prefers newer pods and pods doubled up on a node', () => {
  const p = (name: string, node: string, created: string): Pod => pod(name, { node, ready: true, readySince: T0, created }) as unknown as Pod;
  const a = p('a', 'n1', '2024-01-01T00:00:01Z');
  const b = p('b', 'n1', '2024-01-01T00:00:02Z');
  const c = p('c', 'n2', '2024-01-01T00:00:03Z');
  // c is the newest but alone on n2; a and b share n1, b is the newer of them.
  assert.deepEqual(podsToDelete([a, b, c], [a, b, c], 1).map((x) => x.metadata?.name), ['b']);
  const d = p('d', 'n3', '2024-01-01T00:00:04Z');
  const e = p('e', 'n4', '2024-01-01T00:00:05Z');
  assert.deepEqual(podsToDelete([d, e], [d, e], 1).map((x) => x.metadata?.name), ['e']);
});

test('replicaset: keys', () => {
  const pods = res('pods');
  assert.deepEqual(rc.keysFor(pods, owned('web-a')), ['default/web']);
  assert.deepEqual(rc.keysFor(pods, pod('orphan', { labels: { app: 'web' } })), ['default/*']);
  assert.deepEqual(rc.keysFor(pods, pod('released', { labels: { app: 'x' } }), owned('released')), ['default/*', 'default/web']);
  assert.deepEqual(rc.keysFor(res('replicasets'), replicaSet('web')), ['default/web']);
});

test('replicaset: a namespace wildcard key reconciles every ReplicaSet there', () => {
  const c = new FakeCache([replicaSet('web', { replicas: 1 }), replicaSet('api', { replicas: 1, selector: { app: 'api' }, uid: 'uid-api' }),
    pod('orphan', { labels: { app: 'api' }, node: 'n1' })]);
  const plan = rc.reconcile('default/*', c, NOW);
  assert.deepEqual(summarize(plan.actions), ['patch pods orphan', 'update replicasets api/status', 'create pods web-', 'update replicasets web/status']);
});

test('replicaset: converges through the fake server', () => {
  const c = new FakeCache([replicaSet('web', { replicas: 3 })]);
  for (let i = 0; i < 3; i++) c.apply(rc.reconcile('default/web', c, NOW), NOW);
  assert.equal(c.list(res('pods'), 'default').length, 3);
  const rs = c.get(res('replicasets'), 'default', 'web')!;
  assert.equal((rs['status'] as { replicas: number }).replicas, 3);
  assert.deepEqual(rc.reconcile('default/web', c, NOW).actions, []);
  // Scale down to 1.
  c.apply({ actions: [{ verb: 'patch', resource: res('replicasets'), namespace: 'default', name: 'web', patchType: 'merge', patch: { spec: { replicas: 1 } } }] }, NOW);
  c.apply(rc.reconcile('default/web', c, NOW), NOW);
  assert.equal(c.list(res('pods'), 'default').length, 1);
});

test('replicaset: with the cache, an orphan pod maps to the ReplicaSets that select it', () => {
  const c = new FakeCache([replicaSet('web'), replicaSet('api', { selector: { app: 'api' }, uid: 'uid-api' })]);
  assert.deepEqual(rc.keysFor(res('pods'), pod('orphan', { labels: { app: 'api' } }), undefined, c), ['default/api']);
  assert.deepEqual(rc.keysFor(res('pods'), pod('orphan', { labels: { app: 'none' } }), undefined, c), []);
});
