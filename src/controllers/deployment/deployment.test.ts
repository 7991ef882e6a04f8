import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { KObject } from '../../client/types.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { ownerRef, replicaSet, T0 } from '../testing/builders.js';
import { kubelet, step } from '../testing/sim.js';
import { replicaSetController } from '../replicaset/replicaset.js';
import {
  deploymentController, DesiredReplicasAnnotation, MaxReplicasAnnotation, newReplicaSetName, resolveFenceposts,
  RevisionAnnotation, RevisionHistoryAnnotation, scaledValue,
} from './deployment.js';
import { computeHash, equalIgnoreHash } from './hash.js';

const dc = deploymentController();
const rsc = replicaSetController();
const rsRes = res('replicasets');
const dRes = res('deployments');
const podsRes = res('pods');

interface DOpts {
  replicas?: number;
  image?: string;
  strategy?: Record<string, unknown>;
  paused?: boolean;
  revisionHistoryLimit?: number;
  generation?: number;
  status?: DeploymentStatus;
  annotations?: Record<string, string>;
  selector?: Record<string, string>;
}

function deployment(name: string, o: DOpts = {}): KObject {
  const md: Record<string, unknown> = { name, namespace: 'default', uid: `uid-${name}`, generation: o.generation ?? 1, creationTimestamp: T0 };
  if (o.annotations) md['annotations'] = o.annotations;
  const spec: Record<string, unknown> = {
    replicas: o.replicas ?? 3,
    selector: { matchLabels: o.selector ?? { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: o.image ?? 'img:1' }] } },
    strategy: o.strategy ?? { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    revisionHistoryLimit: o.revisionHistoryLimit ?? 10,
    progressDeadlineSeconds: 600,
  };
  if (o.paused) spec['paused'] = true;
  const d: KObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: md, spec };
  if (o.status) d['status'] = o.status;
  return d;
}

const NOW = new Date('2024-01-01T01:00:00Z');

test('deployment: fenceposts round surge up and unavailable down', () => {
  const cases: [number | string, number | string, number, [number, number]][] = [
    ['25%', '25%', 10, [3, 2]],
    ['25%', '25%', 1, [1, 0]],
    ['25%', '25%', 4, [1, 1]],
    [0, 0, 5, [0, 1]],
    ['0%', '0%', 3, [0, 1]],
    [1, '50%', 3, [1, 1]],
    ['10%', 0, 1, [1, 0]],
    [2, 3, 0, [2, 3]],
  ];
  for (const [s, u, n, want] of cases) assert.deepEqual(resolveFenceposts(s, u, n), want, `${s} ${u} ${n}`);
  assert.equal(scaledValue('33%', 10, true), 4);
  assert.equal(scaledValue('33%', 10, false), 3);
});

test('deployment: the pod-template-hash is stable, safe and sensitive', () => {
  const t1 = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'img:1' }] } };
  const t1b = { spec: { containers: [{ image: 'img:1', name: 'c', resources: {} }] }, metadata: { creationTimestamp: null, labels: { app: 'web' } } };
  const t2 = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'img:2' }] } };
  const h = computeHash(t1 as never);
  assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  assert.equal(computeHash(t1b as never), h);
  assert.notEqual(computeHash(t2 as never), h);
  assert.notEqual(computeHash(t1 as never, 1), h);
  assert.notEqual(computeHash(t1 as never, 1), computeHash(t1 as never, 2));
  const withHash = { ...t1, metadata: { labels: { app: 'web', 'pod-template-hash': h } } };
  assert.ok(equalIgnoreHash(withHash as never, t1b as never));
  assert.ok(!equalIgnoreHash(withHash as never, t2 as never));
});

test('deployment: a new deployment gets its first ReplicaSet, revision 1 and NewReplicaSetCreated', () => {
  const d = deployment('web');
  const name = newReplicaSetName(d as Deployment);
  const plan = dc.reconcile('default/web', new FakeCache([d]), NOW);
  const create = plan.actions.find((a) => a.verb === 'create');
  assert.ok(create?.verb === 'create');
  const rs = create.object as ReplicaSet;
  const hash = name.slice('web-'.length);
  assert.equal(rs.metadata?.name, name);
  assert.equal(rs.spec?.replicas, 3);
  assert.deepEqual(rs.spec?.selector?.matchLabels, { app: 'web', 'pod-template-hash': hash });
  assert.deepEqual(rs.spec?.template?.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
  assert.deepEqual(rs.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
  assert.deepEqual(rs.metadata?.annotations, { [RevisionAnnotation]: '1', [DesiredReplicasAnnotation]: '3', [MaxReplicasAnnotation]: '4' });
  assert.equal(rs.metadata?.ownerReferences?.[0]?.uid, 'uid-web');
  assert.deepEqual(plan.events?.map((e) => e.message), [`Scaled up replica set ${name} from 0 to 3`]);
  const status = plan.actions.find((a) => a.verb === 'patch' && a.subresource === 'status');
  assert.ok(status?.verb === 'patch');
  const st = (status.patch as { status: DeploymentStatus }).status;
  assert.equal(st.observedGeneration, 1);
  assert.deepEqual(st.conditions?.map((c) => [c.type, c.status, c.reason, c.message]), [
    ['Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${name}"`],
    ['Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'],
  ]);
  const rev = plan.actions.find((a) => a.verb === 'patch' && !a.subresource && a.resource.plural === 'deployments');
  assert.ok(rev?.verb === 'patch');
  assert.deepEqual(rev.patch, { metadata: { annotations: { [RevisionAnnotation]: '1' } } });
});

function world(objs: KObject[]): FakeCache {
  return new FakeCache(objs);
}

/** Runs deployment, replicaset and a node agent in turns; checks rolling-update bounds each turn. */
function run(c: FakeCache, turns: number, start: Date, check?: (c: FakeCache) => void): Date {
  let t = start;
  for (let i = 0; i < turns; i++) {
    step(c, dc, t);
    step(c, rsc, t);
    kubelet(c, t, { node: 'n1' });
    check?.(c);
    t = new Date(t.getTime() + 1000);
  }
  return t;
}

function replicaSets(c: FakeCache): ReplicaSet[] {
  return c.list(rsRes, "default") as unknown as ReplicaSet[];
}

function getD(c: FakeCache): Deployment {
  return c.get(dRes, 'default', 'web') as Deployment;
}

function setTemplateImage(c: FakeCache, image: string): void {
  const d = structuredClone(getD(c)) as KObject & Deployment;
  d.spec!.template.spec!.containers[0]!.image = image;
  (d.metadata as { generation?: number }).generation = (d.metadata?.generation ?? 1) + 1;
  c.add(d);
}

test('deployment: a rolling update stays within maxSurge/maxUnavailable and completes', () => {
  const c = world([deployment('web', { replicas: 4, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } })]);
  let t = run(c, 6, NOW);
  const first = newReplicaSetName(getD(c));
  assert.equal(c.list(podsRes, 'default').length, 4);
  assert.equal(getD(c).status?.availableReplicas, 4);

  setTemplateImage(c, 'img:2');
  const second = newReplicaSetName(getD(c));
  assert.notEqual(first, second);
  t = run(c, 20, t, (cc) => {
    const total = replicaSets(cc).reduce((n, rs) => n + (rs.spec?.replicas ?? 0), 0);
    assert.ok(total <= 5, `surge: ${total} replicas`);
    const ready = cc.list(podsRes, 'default').filter((p) => !p.metadata?.deletionTimestamp
      && (p['status'] as { conditions?: { type: string; status: string }[] }).conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
    assert.ok(ready >= 3, `unavailable: only ${ready} ready`);
  });
  const d = getD(c);
  const byName = new Map(replicaSets(c).map((rs) => [rs.metadata?.name, rs]));
  assert.equal(byName.get(second)?.spec?.replicas, 4);
  assert.equal(byName.get(first)?.spec?.replicas, 0);
  assert.equal(d.metadata?.annotations?.[RevisionAnnotation], '2');
  assert.equal(byName.get(second)?.metadata?.annotations?.[RevisionAnnotation], '2');
  assert.deepEqual([d.status?.observedGeneration, d.status?.replicas, d.status?.updatedReplicas, d.status?.availableReplicas], [2, 4, 4, 4]);
  const progressing = d.status?.conditions?.find((x) => x.type === 'Progressing');
  assert.equal(progressing?.reason, 'NewReplicaSetAvailable');
  assert.equal(progressing?.message, `ReplicaSet "${second}" has successfully progressed.`);
  assert.equal(d.status?.conditions?.find((x) => x.type === 'Available')?.status, 'True');

  // kubectl rollout undo: the template goes back; the first ReplicaSet is reused with the next revision.
  setTemplateImage(c, 'img:1');
  run(c, 20, t);
  const after = new Map(replicaSets(c).map((rs) => [rs.metadata?.name, rs]));
  assert.equal(after.size, 2, 'no new ReplicaSet on rollback');
  assert.equal(after.get(first)?.spec?.replicas, 4);
  assert.equal(after.get(first)?.metadata?.annotations?.[RevisionAnnotation], '3');
  assert.equal(after.get(first)?.metadata?.annotations?.[RevisionHistoryAnnotation], '1');
  assert.equal(getD(c).metadata?.annotations?.[RevisionAnnotation], '3');
  // Converged: nothing more to write.
  assert.deepEqual(dc.reconcile('default/web', c, new Date(t.getTime() + 60_000)).actions, []);
});

test('deployment: Recreate scales old to zero and waits for old pods before the new ReplicaSet', () => {
  const c = world([deployment('web', { replicas: 2, strategy: { type: 'Recreate' } })]);
  let t = run(c, 5, NOW);
  const first = newReplicaSetName(getD(c));
  setTemplateImage(c, 'img:2');
  const second = newReplicaSetName(getD(c));
  // One turn of the deployment controller alone: old scaled to 0, no new RS yet.
  step(c, dc, t);
  assert.deepEqual(replicaSets(c).map((rs) => [rs.metadata?.name, rs.spec?.replicas]), [[first, 0]]);
  // The ReplicaSet controller deletes the pods; they are still terminating.
  step(c, rsc, t);
  step(c, dc, t);
  assert.equal(replicaSets(c).length, 1, 'waits while old pods exist');
  t = run(c, 8, t);
  const byName = new Map(replicaSets(c).map((rs) => [rs.metadata?.name, rs]));
  assert.equal(byName.get(second)?.spec?.replicas, 2);
  assert.equal(getD(c).status?.updatedReplicas, 2);
});

test('deployment: scaling mid-rollout is proportional', () => {
  const d = deployment('web', { replicas: 15, status: { replicas: 13, observedGeneration: 1 } });
  const old = replicaSet('web-old', {
    replicas: 8, selector: { app: 'web' }, owner: ownerRef('Deployment', 'web', 'uid-web'), created: T0,
    annotations: { [RevisionAnnotation]: '1', [DesiredReplicasAnnotation]: '10', [MaxReplicasAnnotation]: '13' },
    template: { metadata: { labels: { app: 'web', 'pod-template-hash': 'old' } }, spec: { containers: [{ name: 'c', image: 'img:0' }] } },
  });
  const cur = replicaSet(newReplicaSetName(d as Deployment), {
    replicas: 5, selector: { app: 'web' }, owner: ownerRef('Deployment', 'web', 'uid-web'), created: '2024-01-01T00:10:00Z',
    annotations: { [RevisionAnnotation]: '2', [DesiredReplicasAnnotation]: '10', [MaxReplicasAnnotation]: '13' },
    template: (d['spec'] as { template: Record<string, unknown> }).template,
  });
  const plan = dc.reconcile('default/web', new FakeCache([d, old, cur]), NOW);
  const sizes = Object.fromEntries(plan.actions.filter((a) => a.verb === 'patch' && a.resource.plural === 'replicasets')
    .map((a) => a.verb === 'patch' ? [a.name, (a.patch as { spec?: { replicas?: number } }).spec?.replicas] : []));
  // allowed = 15 + ceil(25% of 15) = 19; 6 to add: 8 -> round(8*19/13)=12, 5 -> 7.
  assert.deepEqual(sizes, { 'web-old': 12, [cur.metadata!.name!]: 7 });
});

test('deployment: old ReplicaSets beyond revisionHistoryLimit are deleted once complete', () => {
  const d = deployment('web', { replicas: 1, revisionHistoryLimit: 1, generation: 1,
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1 } });
  const owner = ownerRef('Deployment', 'web', 'uid-web');
  const oldRS = (name: string, rev: string): KObject => replicaSet(name, {
    replicas: 0, owner, annotations: { [RevisionAnnotation]: rev }, status: { replicas: 0, observedGeneration: 1 },
    template: { metadata: { labels: { app: 'web', 'pod-template-hash': name } }, spec: { containers: [{ name: 'c', image: name }] } },
  });
  const cur = replicaSet(newReplicaSetName(d as Deployment), {
    replicas: 1, owner, annotations: { [RevisionAnnotation]: '4', [DesiredReplicasAnnotation]: '1', [MaxReplicasAnnotation]: '2' },
    status: { replicas: 1, availableReplicas: 1, readyReplicas: 1, observedGeneration: 1 },
    template: (d['spec'] as { template: Record<string, unknown> }).template,
  });
  const plan = dc.reconcile('default/web', new FakeCache([d, oldRS('a', '1'), oldRS('b', '3'), oldRS('c', '2'), cur]), NOW);
  assert.deepEqual(plan.actions.filter((a) => a.verb === 'delete').map((a) => a.verb === 'delete' && a.name), ['a', 'c']);
});

test('deployment: paused deployments get DeploymentPaused and no new ReplicaSet', () => {
  const c = world([deployment('web', { replicas: 1 })]);
  const t = run(c, 4, NOW);
  const d = structuredClone(getD(c)) as KObject & Deployment;
  d.spec!.paused = true;
  d.spec!.template.spec!.containers[0]!.image = 'img:2';
  c.add(d);
  run(c, 3, t);
  assert.equal(replicaSets(c).length, 1);
  const p = getD(c).status?.conditions?.find((x) => x.type === 'Progressing');
  assert.deepEqual([p?.status, p?.reason, p?.message], ['Unknown', 'DeploymentPaused', 'Deployment is paused']);
});

test('deployment: an empty selector is refused with SelectingAll', () => {
  const d = deployment('web');
  (d['spec'] as { selector: unknown }).selector = {};
  const plan = dc.reconcile('default/web', new FakeCache([d]), NOW);
  assert.deepEqual(plan.events?.map((e) => [e.type, e.reason]), [['Warning', 'SelectingAll']]);
  assert.ok(!plan.actions.some((a) => a.verb === 'create'));
});

test('deployment: a name collision bumps collisionCount', () => {
  const d = deployment('web');
  const squatter = replicaSet(newReplicaSetName(d as Deployment), { selector: { app: 'other' }, labels: { app: 'other' } });
  const plan = dc.reconcile('default/web', new FakeCache([d, squatter]), NOW);
  assert.ok(!plan.actions.some((a) => a.verb === 'create'));
  const st = plan.actions.find((a) => a.verb === 'patch' && a.subresource === 'status');
  assert.equal(st?.verb === 'patch' && (st.patch as { status: DeploymentStatus }).status.collisionCount, 1);
  const d2 = structuredClone(d);
  d2['status'] = { collisionCount: 1 };
  assert.notEqual(newReplicaSetName(d2 as Deployment), newReplicaSetName(d as Deployment));
});

test('deployment: kubectl rollout restart (template annotation) makes a new ReplicaSet', () => {
  const c = world([deployment('web', { replicas: 1 })]);
  const t = run(c, 4, NOW);
  const d = structuredClone(getD(c)) as KObject & Deployment;
  d.spec!.template.metadata!.annotations = { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T02:00:00Z' };
  c.add(d);
  run(c, 8, t);
  assert.equal(replicaSets(c).length, 2);
  assert.equal(getD(c).metadata?.annotations?.[RevisionAnnotation], '2');
});

test('deployment: keys', () => {
  const owner = ownerRef('Deployment', 'web', 'uid-web');
  assert.deepEqual(dc.keysFor(dRes, deployment('web')), ['default/web']);
  assert.deepEqual(dc.keysFor(rsRes, replicaSet('web-abc', { owner })), ['default/web']);
  assert.deepEqual(dc.keysFor(rsRes, replicaSet('stray')), ['default/*']);
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', deletionTimestamp: T0, labels: { 'pod-template-hash': 'abc' },
    ownerReferences: [ownerRef('ReplicaSet', 'web-abc', 'uid-rs')] } };
  assert.deepEqual(dc.keysFor(podsRes, pod), ['default/web']);
});

test('deployment: with the cache, keys follow pod -> ReplicaSet -> Deployment and orphans to selecting deployments', () => {
  const c = new FakeCache([deployment('web'), replicaSet('web-x', { owner: ownerRef('Deployment', 'web', 'uid-web') })]);
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', deletionTimestamp: T0, ownerReferences: [ownerRef('ReplicaSet', 'web-x', 'uid-web-x')] } };
  assert.deepEqual(dc.keysFor(podsRes, pod, undefined, c), ['default/web']);
  assert.deepEqual(dc.keysFor(rsRes, replicaSet('stray'), undefined, c), ['default/web']);
  assert.deepEqual(dc.keysFor(rsRes, replicaSet('stray', { selector: { app: 'x' } }), undefined, c), []);
});
