import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../client/types.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { node, ownerRef, pod } from '../testing/builders.js';
import { fitErrorMessage, scheduler } from './scheduler.js';
import type { Action } from '../types.js';

const NOW = new Date('2024-01-01T01:00:00Z');
const sched = scheduler();

function boundTo(actions: Action[]): string | undefined {
  const a = actions.find((x) => x.verb === 'create' && x.subresource === 'binding');
  return a?.verb === 'create' ? (a.object['target'] as { name: string }).name : undefined;
}

const affinityZone = (zone: string): unknown => ({
  nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: [zone] }] }] } },
});

const cases: { name: string; objs: KObject[]; pod?: string; want: string | { error: string } | null }[] = [
  { name: 'least loaded node wins', objs: [node('a'), node('b'), pod('x', { node: 'a' }), pod('p')], want: 'b' },
  { name: 'ties go to name order', objs: [node('b'), node('a'), pod('p')], want: 'a' },
  { name: 'finished pods do not load a node', objs: [node('a'), node('b'), pod('x', { node: 'a', phase: 'Succeeded' }), pod('y', { node: 'b' }), pod('p')], want: 'a' },
  { name: 'siblings spread before total load', objs: [
    node('a'), node('b'),
    pod('s1', { node: 'a', owner: ownerRef('ReplicaSet', 'rs', 'uid-rs') }),
    pod('o1', { node: 'b' }), pod('o2', { node: 'b' }),
    pod('p', { owner: ownerRef('ReplicaSet', 'rs', 'uid-rs') })], want: 'b' },
  { name: 'unschedulable and not-ready nodes are skipped', objs: [node('a', { unschedulable: true }), node('b', { ready: false }), node('c'), pod('p')], want: 'c' },
  { name: 'nodeSelector', objs: [node('a'), node('b', { labels: { disk: 'ssd' } }), pod('p', { nodeSelector: { disk: 'ssd' } })], want: 'b' },
  { name: 'required node affinity', objs: [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z2' } }), pod('p', { affinity: affinityZone('z2') })], want: 'b' },
  { name: 'matchFields on metadata.name', objs: [node('a'), node('b'), pod('p', { affinity: {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }] } } } })], want: 'b' },
  { name: 'a tolerated taint is fine', objs: [node('a', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
    pod('p', { tolerations: [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }] })], want: 'a' },
  { name: 'PreferNoSchedule does not filter', objs: [node('a', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] }), pod('p')], want: 'a' },
  { name: 'other schedulers’ pods are left alone', objs: [node('a'), pod('p', { schedulerName: 'other' })], want: null },
  { name: 'bound pods are left alone', objs: [node('a'), pod('p', { node: 'a' })], want: null },
  { name: 'no nodes', objs: [pod('p')], want: { error: 'no nodes available to schedule pods' } },
  { name: 'kube message shape', objs: [
    node('a', { unschedulable: true }), node('b', { unschedulable: true }), node('c', { labels: { zone: 'z1' } }),
    pod('p', { affinity: affinityZone('z9') })],
  want: { error: "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) were unschedulable." } },
  { name: 'taints are named', objs: [
    node('a', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }), node('b', { ready: false }), node('c', { ready: 'Unknown' })],
  pod: 'p',
  want: { error: '0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, '
    + '1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.' } },
];

for (const c of cases) {
  test(`scheduler: ${c.name}`, () => {
    const objs = c.pod ? [...c.objs, pod(c.pod)] : c.objs;
    const plan = sched.reconcile('default/p', new FakeCache(objs), NOW);
    if (c.want === null) { assert.deepEqual(plan.actions, []); return; }
    if (typeof c.want === 'string') {
      assert.equal(boundTo(plan.actions), c.want);
      assert.equal(plan.events?.[0]?.message, `Successfully assigned default/p to ${c.want}`);
      return;
    }
    assert.equal(boundTo(plan.actions), undefined);
    assert.deepEqual(plan.events?.map((e) => [e.type, e.reason, e.message]), [['Warning', 'FailedScheduling', c.want.error]]);
    const patch = plan.actions.find((a) => a.verb === 'patch');
    assert.ok(patch?.verb === 'patch' && patch.subresource === 'status');
    const cond = (patch.patch as { status: { conditions: Record<string, unknown>[] } }).status.conditions[0]!;
    assert.deepEqual([cond['type'], cond['status'], cond['reason'], cond['message']], ['PodScheduled', 'False', 'Unschedulable', c.want.error]);
    assert.ok(plan.requeueAfterMs! > 0);
  });
}

test('scheduler: the binding action', () => {
  const plan = sched.reconcile('default/p', new FakeCache([node('a'), pod('p')]), NOW);
  assert.deepEqual(plan.actions, [{
    verb: 'create', resource: res('pods'), namespace: 'default', name: 'p', subresource: 'binding',
    object: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p', namespace: 'default' }, target: { apiVersion: 'v1', kind: 'Node', name: 'a' } },
  }]);
});

test('scheduler: a burst spreads even before the cache sees earlier bindings', () => {
  const owner = ownerRef('ReplicaSet', 'web', 'uid-web');
  const c = new FakeCache([node('a'), node('b'), node('c'),
    pod('web-1', { owner, created: '2024-01-01T00:00:01Z' }), pod('web-2', { owner, created: '2024-01-01T00:00:02Z' }),
    pod('web-3', { owner, created: '2024-01-01T00:00:03Z' })]);
  // Each pod's reconcile sees the same stale cache (no binding applied in between).
  const got = ['web-1', 'web-2', 'web-3'].map((n) => boundTo(sched.reconcile(`default/${n}`, c, NOW).actions));
  assert.deepEqual(got, ['a', 'b', 'c']);
});

test('scheduler: an unchanged PodScheduled condition is not patched again', () => {
  const p = pod('p');
  (p['status'] as { conditions: unknown[] }).conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no nodes available to schedule pods' }];
  const plan = sched.reconcile('default/p', new FakeCache([p]), NOW);
  assert.deepEqual(plan.actions, []);
  assert.equal(plan.events?.length, 1);
});

test('scheduler: node changes replay every pending pod', () => {
  const c = new FakeCache([node('a'), pod('p1'), pod('p2', { nodeSelector: { x: 'y' } })]);
  assert.deepEqual(sched.keysFor(res('nodes'), node('a')), ['*']);
  const plan = sched.reconcile('*', c, NOW);
  assert.equal(boundTo(plan.actions), 'a');
  assert.equal(plan.actions.length, 2);
  assert.deepEqual(plan.events?.map((e) => e.reason), ['Scheduled', 'FailedScheduling']);
  c.apply(plan, NOW);
  assert.equal((c.get(res('pods'), 'default', 'p1')!['spec'] as { nodeName: string }).nodeName, 'a');
  const cond = (c.get(res('pods'), 'default', 'p2')!['status'] as { conditions: { type: string; status: string }[] }).conditions;
  assert.deepEqual(cond.map((x) => [x.type, x.status]), [['PodScheduled', 'False']]);
});

test('scheduler: fit error message sorts "count reason" strings', () => {
  assert.equal(fitErrorMessage(3, ['b', 'a', 'b']), '0/3 nodes are available: 1 a, 2 b.');
});

test('scheduler: keys for pods', () => {
  assert.deepEqual(sched.keysFor(res('pods'), pod('p')), ['default/p']);
  assert.deepEqual(sched.keysFor(res('pods'), pod('p', { node: 'a' })), []);
});
