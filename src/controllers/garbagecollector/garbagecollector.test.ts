import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../client/types.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { ownerRef, pod, replicaSet, T0 } from '../testing/builders.js';
import { garbageCollector, gcKey } from './garbagecollector.js';
import type { Action } from '../types.js';

const NOW = new Date('2024-01-01T01:00:00Z');
const gc = garbageCollector();
const podsRes = res('pods');
const rsRes = res('replicasets');

function summarize(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.verb) {
      case 'delete': return `delete ${a.resource.plural}/${a.name} ${a.propagationPolicy}`;
      case 'patch': {
        const md = (a.patch as { metadata: { ownerReferences?: { name: string }[] | null; finalizers?: string[] | null } }).metadata;
        if ('finalizers' in md) return `finalizers ${a.resource.plural}/${a.name} ${JSON.stringify(md.finalizers)}`;
        return `ownerrefs ${a.resource.plural}/${a.name} ${JSON.stringify((md.ownerReferences ?? []).map((r) => r.name))}`;
      }
      default: return `${a.verb} ${a.resource.plural}`;
    }
  });
}

function deleting(o: KObject, ...finalizers: string[]): KObject {
  return { ...o, metadata: { ...o.metadata, deletionTimestamp: T0, finalizers } };
}

const rsWeb = replicaSet('web');
const refWeb = ownerRef('ReplicaSet', 'web', 'uid-web');

const cases: { name: string; objs: KObject[]; key: string; want: string[]; requeue?: boolean }[] = [
  { name: 'an owned pod with a live owner stays', objs: [rsWeb, pod('p', { owner: refWeb })], key: gcKey(podsRes, 'default', 'p'), want: [] },
  { name: 'a pod whose owner is gone is deleted', objs: [pod('p', { owner: refWeb })], key: gcKey(podsRes, 'default', 'p'), want: ['delete pods/p Background'] },
  { name: 'an owner recreated with another uid does not own the pod', objs: [replicaSet('web', { uid: 'uid-new' }), pod('p', { owner: refWeb })],
    key: gcKey(podsRes, 'default', 'p'), want: ['delete pods/p Background'] },
  { name: 'the owner key collects what it left behind', objs: [pod('p', { owner: refWeb }), pod('q', { owner: refWeb }), pod('other')],
    key: gcKey(rsRes, 'default', 'web'), want: ['delete pods/p Background', 'delete pods/q Background'] },
  { name: 'a young dependent is given time for its owner to show up', objs: [pod('p', { owner: refWeb, created: '2024-01-01T00:59:58Z' })],
    key: gcKey(podsRes, 'default', 'p'), want: [], requeue: true },
  { name: 'one solid owner left: the dangling reference is removed', objs: [
    rsWeb, { ...pod('p'), metadata: { ...pod('p').metadata, ownerReferences: [refWeb, ownerRef('ReplicaSet', 'gone', 'uid-gone', { controller: false })] } }],
  key: gcKey(podsRes, 'default', 'p'), want: ['ownerrefs pods/p ["web"]'] },
  { name: 'owners of kinds we do not watch are never judged', objs: [pod('p', { owner: ownerRef('Job', 'j', 'uid-j', { apiVersion: 'batch/v1' }) })],
    key: gcKey(podsRes, 'default', 'p'), want: [] },
  { name: 'the dependent’s own orphan finalizer picks the policy', objs: [deleting(pod('x'), 'orphan'), { ...pod('p', { owner: refWeb }), metadata: { ...pod('p', { owner: refWeb }).metadata, finalizers: ['orphan'] } }],
    key: gcKey(podsRes, 'default', 'p'), want: ['delete pods/p Orphan'] },
  { name: 'foreground: dependents are deleted first, the owner waits', objs: [deleting(rsWeb, 'foregroundDeletion'), pod('p', { owner: refWeb }), pod('q', { owner: refWeb })],
    key: gcKey(rsRes, 'default', 'web'), want: ['delete pods/p Background', 'delete pods/q Background'], requeue: true },
  { name: 'foreground: terminating dependents still block', objs: [deleting(rsWeb, 'foregroundDeletion'), pod('p', { owner: refWeb, deleting: true })],
    key: gcKey(rsRes, 'default', 'web'), want: [], requeue: true },
  { name: 'foreground: once dependents are gone the finalizer goes', objs: [deleting(rsWeb, 'foregroundDeletion')],
    key: gcKey(rsRes, 'default', 'web'), want: ['finalizers replicasets/web null'] },
  { name: 'foreground: a dependent with its own dependents is deleted in the foreground', objs: [
    deleting({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'default', uid: 'uid-d', creationTimestamp: T0 }, spec: {} }, 'foregroundDeletion'),
    replicaSet('web', { owner: ownerRef('Deployment', 'd', 'uid-d') }), pod('p', { owner: refWeb })],
  key: gcKey(res('deployments'), 'default', 'd'), want: ['delete replicasets/web Foreground'], requeue: true },
  { name: 'foreground: a dependent with another solid owner only loses the reference', objs: [
    deleting(rsWeb, 'foregroundDeletion'), replicaSet('keep'),
    { ...pod('p'), metadata: { ...pod('p').metadata, ownerReferences: [refWeb, ownerRef('ReplicaSet', 'keep', 'uid-keep', { controller: false })] } }],
  key: gcKey(rsRes, 'default', 'web'), want: ['ownerrefs pods/p ["keep"]'], requeue: true },
  { name: 'orphan: dependents lose the reference first', objs: [deleting(rsWeb, 'orphan'), pod('p', { owner: refWeb })],
    key: gcKey(rsRes, 'default', 'web'), want: ['ownerrefs pods/p []'], requeue: true },
  { name: 'orphan: then the finalizer goes', objs: [deleting(rsWeb, 'orphan', 'example.com/keep'), pod('p')],
    key: gcKey(rsRes, 'default', 'web'), want: ['finalizers replicasets/web ["example.com/keep"]'] },
];

for (const c of cases) {
  test(`garbagecollector: ${c.name}`, () => {
    const plan = gc.reconcile(c.key, new FakeCache(c.objs), NOW);
    assert.deepEqual(summarize(plan.actions), c.want);
    assert.equal(plan.requeueAfterMs !== undefined, c.requeue ?? false, 'requeue');
  });
}

test('garbagecollector: keys name the object and its owners', () => {
  assert.deepEqual(gc.keysFor(podsRes, pod('p', { owner: refWeb })), ['pods/default/p', 'replicasets.apps/default/web']);
  assert.deepEqual(gc.keysFor(podsRes, pod('p'), pod('p', { owner: refWeb })), ['pods/default/p', 'replicasets.apps/default/web']);
});

test('garbagecollector: background deletion of a deployment cascades through the fake server', () => {
  const c = new FakeCache([
    replicaSet('web', { owner: ownerRef('Deployment', 'd', 'uid-d') }),
    pod('p1', { owner: refWeb }), pod('p2', { owner: refWeb }),
  ]);
  // The deployment itself is already gone (background propagation): its key comes from its delete event.
  const keys = (): string[] => [gcKey(res('deployments'), 'default', 'd'),
    ...[rsRes, podsRes].flatMap((r) => c.list(r).map((o) => gcKey(r, o.metadata?.namespace, o.metadata?.name ?? '')))];
  for (let i = 0; i < 3; i++) for (const k of keys()) c.apply(gc.reconcile(k, c, NOW), NOW);
  assert.equal(c.list(rsRes).length, 0);
  assert.equal(c.list(podsRes).length, 0);
});

test('garbagecollector: foreground deletion through the fake server', () => {
  const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'default', uid: 'uid-d', creationTimestamp: T0 }, spec: {} };
  const c = new FakeCache([d, replicaSet('web', { owner: ownerRef('Deployment', 'd', 'uid-d') }), pod('p1', { owner: refWeb })]);
  c.apply({ actions: [{ verb: 'delete', resource: res('deployments'), namespace: 'default', name: 'd', propagationPolicy: 'Foreground' }] }, NOW);
  const keys = (): string[] => [res('deployments'), rsRes, podsRes].flatMap((r) => c.list(r).map((o) => gcKey(r, o.metadata?.namespace, o.metadata?.name ?? '')));
  for (let i = 0; i < 6 && keys().length; i++) for (const k of keys()) c.apply(gc.reconcile(k, c, NOW), NOW);
  assert.deepEqual(keys(), []);
});
