import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointSubset, Endpoints } from 'kubernetes-types/core/v1.js';
import { validate } from '../../api/validation/index.js';
import type { Plan } from '../types.js';
import { FakeCache, describePlan, golden, pod, service, type K } from '../endpointslice/testing.js';
import { R } from '../endpointslice/util.js';
import { newEndpointsReconciler, truncateSubsets } from './reconciler.js';
import { repackSubsets } from './repack.js';

const now = new Date('2026-11-23T12:00:00Z');

function run(cache: FakeCache, opts: { maxCapacity?: number } = {}): Plan {
  const rec = newEndpointsReconciler(opts);
  const plan = rec.reconcile('default/web', cache, now);
  // Through the cache indexes (as the runner reads) the plan is the same as by scanning.
  assert.deepEqual(newEndpointsReconciler(opts).reconcile('default/web', cache.indexed(rec.indexes ?? []), now), plan, 'indexed cache gave another plan');
  for (const a of plan.actions) {
    if (a.verb === 'create' || a.verb === 'update') assert.deepEqual(validate('Endpoints', a.object), [], JSON.stringify(a.object));
  }
  return plan;
}

function converge(cache: FakeCache, opts: { maxCapacity?: number } = {}): Plan {
  const plan = run(cache, opts);
  cache.apply(plan);
  assert.equal(describePlan(run(cache, opts)), '', 'second reconcile should be a no-op');
  return plan;
}

function endpointsOf(plan: Plan): Endpoints {
  const a = plan.actions[0];
  if (!a || (a.verb !== 'create' && a.verb !== 'update')) throw new Error('no write');
  return a.object as unknown as Endpoints;
}

describe('Endpoints reconciler', () => {
  it('lists ready pods in addresses and the others in notReadyAddresses, one subset per port set', () => {
    const cache = new FakeCache([
      service('web', { labels: { tier: 'front' } }),
      pod('a', { ips: ['10.244.1.5'] }),
      pod('b', { ips: ['10.244.2.7'], ready: false, node: 'node-2' }),
      pod('c', { ips: ['10.244.1.6'] }),
      pod('gone', { ips: ['10.244.1.8'], deleting: true }),
      pod('done', { ips: ['10.244.1.9'], phase: 'Succeeded' }),
      pod('other', { ips: ['10.244.1.10'], labels: { app: 'db' } }),
    ]);
    const plan = converge(cache);
    assert.equal(describePlan(plan), golden(`
      create Endpoints default/web
        ports=[http:TCP:8080]
          ready: 10.244.1.5(a) 10.244.1.6(c)
          notReady: 10.244.2.7(b)
    `));
    assert.deepEqual(endpointsOf(plan), {
      apiVersion: 'v1', kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
      subsets: [{
        addresses: [
          { ip: '10.244.1.5', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'pod-uid-a' } },
          { ip: '10.244.1.6', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'c', uid: 'pod-uid-c' } },
        ],
        notReadyAddresses: [
          { ip: '10.244.2.7', nodeName: 'node-2', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'pod-uid-b' } },
        ],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      }],
    });
  });

  it('publishes not-ready and terminating pods as ready when the Service asks', () => {
    const cache = new FakeCache([
      service('web', { publishNotReadyAddresses: true }),
      pod('a', { ips: ['10.244.1.5'], ready: false }),
      pod('b', { ips: ['10.244.1.6'], deleting: true }),
    ]);
    assert.equal(describePlan(run(cache)), golden(`
      create Endpoints default/web
        ports=[http:TCP:8080]
          ready: 10.244.1.5(a) 10.244.1.6(b)
    `));
  });

  it('repacks pods resolving named ports differently: one subset per set of addresses', () => {
    const cache = new FakeCache([
      service('web', {
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' },
          { name: 'admin', port: 81, protocol: 'TCP', targetPort: 9000 },
        ],
      }),
      pod('a', { ips: ['10.244.1.5'], ports: [{ name: 'web', containerPort: 8080 }] }),
      pod('b', { ips: ['10.244.1.6'], ports: [{ name: 'web', containerPort: 8081 }], ready: false }),
      pod('c', { ips: ['10.244.1.7'] }),
    ]);
    assert.equal(describePlan(converge(cache)), golden(`
      create Endpoints default/web
        ports=[admin:TCP:9000]
          ready: 10.244.1.5(a) 10.244.1.7(c)
          notReady: 10.244.1.6(b)
        ports=[http:TCP:8080]
          ready: 10.244.1.5(a)
        ports=[http:TCP:8081]
          notReady: 10.244.1.6(b)
    `));
  });

  it('updates only when the endpoints change, not for pod resourceVersions', () => {
    const cache = new FakeCache([service('web'), pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    cache.add(pod('a', { ips: ['10.244.1.5'], resourceVersion: '42' }));
    assert.equal(describePlan(run(cache)), '');
    cache.add(pod('b', { ips: ['10.244.1.4'] }));
    assert.equal(describePlan(converge(cache)), golden(`
      update Endpoints default/web rv=101
        ports=[http:TCP:8080]
          ready: 10.244.1.4(b) 10.244.1.5(a)
    `));
    // Deleted by someone: recreated.
    cache.remove(R.endpoints, 'default', 'web');
    assert.match(describePlan(converge(cache)), /^create Endpoints default\/web/);
  });

  it('writes an empty Endpoints when nothing matches', () => {
    const plan = converge(new FakeCache([service('web')]));
    assert.equal(describePlan(plan), 'create Endpoints default/web');
    assert.deepEqual(endpointsOf(plan).subsets, []);
  });

  it('truncates above 1000 addresses, ready ones first, and says so', () => {
    const pods = Array.from({ length: 1003 }, (_, i) => pod(`p${String(i).padStart(4, '0')}`, {
      ips: [`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      ready: i % 100 !== 0,
    }));
    const cache = new FakeCache([service('web'), ...pods]);
    const ep = endpointsOf(converge(cache));
    assert.equal(ep.metadata?.annotations?.['endpoints.kubernetes.io/over-capacity'], 'truncated');
    const s = ep.subsets![0]!;
    assert.equal(s.addresses!.length, 992);
    assert.equal(s.notReadyAddresses!.length, 8);
    // Back under capacity: the annotation goes.
    for (const p of pods.slice(0, 10)) cache.remove(R.pods, 'default', p.metadata!.name!);
    const after = endpointsOf(converge(cache));
    assert.equal(after.metadata?.annotations, undefined);
    assert.equal(after.subsets![0]!.addresses!.length + after.subsets![0]!.notReadyAddresses!.length, 993);
  });

  it('shares the room between subsets in proportion (truncateEndpoints)', () => {
    const addrs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ ip: `${prefix}.${i + 1}` }));
    // Too many ready addresses: ready ones are cut in proportion, not-ready ones dropped.
    let subsets: EndpointSubset[] = [
      { addresses: addrs('10.0.1', 6), notReadyAddresses: addrs('10.0.9', 2), ports: [{ port: 1 }] },
      { addresses: addrs('10.0.2', 3), ports: [{ port: 2 }] },
    ];
    assert.equal(truncateSubsets(subsets, 6), true);
    assert.deepEqual(subsets.map((s) => [s.addresses?.length ?? 0, s.notReadyAddresses?.length ?? 0]), [[4, 0], [2, 0]]);
    // Ready ones fit: only not-ready ones are cut.
    subsets = [
      { addresses: addrs('10.0.1', 2), notReadyAddresses: addrs('10.0.9', 3), ports: [{ port: 1 }] },
      { addresses: addrs('10.0.2', 1), notReadyAddresses: addrs('10.0.8', 3), ports: [{ port: 2 }] },
    ];
    assert.equal(truncateSubsets(subsets, 6), true);
    assert.deepEqual(subsets.map((s) => [s.addresses?.length ?? 0, s.notReadyAddresses?.length ?? 0]), [[2, 2], [1, 1]]);
    assert.equal(truncateSubsets([{ addresses: addrs('10.0.1', 3) }], 3), false);
  });

  it('headless Service without ports: addresses only; labelled headless', () => {
    const cache = new FakeCache([service('web', { clusterIP: 'None', ports: [] }), pod('a', { ips: ['10.244.1.5'], hostname: 'a', subdomain: 'web' })]);
    const ep = endpointsOf(converge(cache));
    assert.deepEqual(ep.metadata?.labels, { 'service.kubernetes.io/headless': '' });
    assert.deepEqual(ep.subsets, [{
      addresses: [{ ip: '10.244.1.5', hostname: 'a', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'pod-uid-a' } }],
    }]);
  });

  it('picks the pod IP of the Service family', () => {
    const cache = new FakeCache([
      service('web', { ipFamilies: ['IPv6', 'IPv4'], clusterIP: 'fd00:96::10' }),
      pod('a', { ips: ['10.244.1.5', 'fd00:10:244:1::5'] }),
      pod('v4only', { ips: ['10.244.1.6'] }),
    ]);
    assert.equal(describePlan(run(cache)), golden(`
      create Endpoints default/web
        ports=[http:TCP:8080]
          ready: fd00:10:244:1::5(a)
    `));
  });

  it('leaves the Endpoints of Services without selector (or ExternalName) to their users', () => {
    const user: K<Endpoints> = {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default', resourceVersion: '5' },
      subsets: [{ addresses: [{ ip: '192.168.0.1' }], ports: [{ port: 80 }] }],
    };
    for (const svc of [service('web', { selector: null }), service('web', { selector: {} }), service('web', { type: 'ExternalName' })]) {
      assert.equal(describePlan(run(new FakeCache([svc, user, pod('a', { ips: ['10.244.1.5'] })]))), '');
    }
  });

  it('deletes its Endpoints once the Service is gone, but not a user\'s or a leader-election record', () => {
    const ours: K<Endpoints> = {
      apiVersion: 'v1', kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default', uid: 'ep-uid', resourceVersion: '5', managedFields: [{ manager: 'endpoint-controller', operation: 'Update' }] },
    };
    assert.equal(describePlan(run(new FakeCache([ours]))), 'delete Endpoints default/web');
    assert.deepEqual(run(new FakeCache([ours])).actions[0], { verb: 'delete', resource: R.endpoints, namespace: 'default', name: 'web', preconditions: { uid: 'ep-uid' } });
    const users: K<Endpoints> = { ...ours, metadata: { ...ours.metadata, managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update' }] } };
    assert.equal(describePlan(run(new FakeCache([users]))), '');
    const leader: K<Endpoints> = { ...ours, metadata: { ...ours.metadata, annotations: { 'control-plane.alpha.kubernetes.io/leader': '{}' } } };
    assert.equal(describePlan(run(new FakeCache([leader]))), '');
  });

  it('maps Services, Pods and Endpoints to Service keys', () => {
    const rec = newEndpointsReconciler();
    assert.deepEqual(rec.keysFor(R.services, service('web')), ['default/web']);
    assert.deepEqual(rec.keysFor(R.pods, pod('a')), ['default/web']);
    assert.deepEqual(rec.keysFor(R.endpoints, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'x', namespace: 'default' } }), ['default/x']);
  });
});

describe('repackSubsets', () => {
  const a = (ip: string, uid?: string) => ({ ip, ...(uid ? { targetRef: { kind: 'Pod', name: uid, uid } } : {}) });
  const p = (port: number, name = '') => ({ name, port, protocol: 'TCP' });

  it('merges addresses sharing a port set and ports sharing an address set, sorted', () => {
    assert.deepEqual(repackSubsets([
      { addresses: [a('10.0.0.2')], ports: [p(80)] },
      { addresses: [a('10.0.0.1')], ports: [p(80)] },
      { addresses: [a('10.0.0.1'), a('10.0.0.2')], ports: [p(443, 'https')] },
      { addresses: [a('10.0.0.3')], ports: [p(8080)] },
    ]), [
      { addresses: [a('10.0.0.1'), a('10.0.0.2')], ports: [p(80), p(443, 'https')] },
      { addresses: [a('10.0.0.3')], ports: [p(8080)] },
    ]);
  });

  it('lets not-ready win over ready, and tells apart the same IP of two pods', () => {
    assert.deepEqual(repackSubsets([
      { addresses: [a('10.0.0.1', 'u1')], notReadyAddresses: [a('10.0.0.1', 'u1')], ports: [p(80)] },
      { addresses: [a('10.0.0.1', 'u2')], ports: [p(80)] },
    ]), [{ addresses: [a('10.0.0.1', 'u2')], notReadyAddresses: [a('10.0.0.1', 'u1')], ports: [p(80)] }]);
  });

  it('keeps addresses without ports', () => {
    assert.deepEqual(repackSubsets([{ addresses: [a('10.0.0.2')] }, { addresses: [a('10.0.0.1')] }]), [{ addresses: [a('10.0.0.1'), a('10.0.0.2')] }]);
    assert.deepEqual(repackSubsets([]), []);
  });
});
