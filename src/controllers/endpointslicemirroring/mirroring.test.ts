import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointSubset, Endpoints } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { validate } from '../../api/validation/index.js';
import type { Plan } from '../types.js';
import { FakeCache, describePlan, golden, service, sliceOf, type K } from '../endpointslice/testing.js';
import { R } from '../endpointslice/util.js';
import { newEndpointSliceMirroringReconciler } from './reconciler.js';

const now = new Date('2026-11-23T12:00:00Z');

function endpoints(subsets: EndpointSubset[], extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): K<Endpoints> {
  return {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: 'ext', namespace: 'default', uid: 'ep-uid', resourceVersion: '7', ...extra },
    subsets,
  };
}

const external = service('ext', { selector: null });

function run(cache: FakeCache, opts: { maxEndpointsPerSubset?: number } = {}): Plan {
  const rec = newEndpointSliceMirroringReconciler(opts);
  const plan = rec.reconcile('default/ext', cache, now);
  // Through the cache indexes (as the runner reads) the plan is the same as by scanning.
  assert.deepEqual(newEndpointSliceMirroringReconciler(opts).reconcile('default/ext', cache.indexed(rec.indexes ?? []), now), plan, 'indexed cache gave another plan');
  for (const a of plan.actions) {
    if (a.verb !== 'create' && a.verb !== 'update') continue;
    const obj = a.object.metadata?.name ? a.object : { ...a.object, metadata: { ...a.object.metadata, name: 'generated-x1' } };
    assert.deepEqual(validate('EndpointSlice', obj), [], JSON.stringify(obj));
  }
  return plan;
}

function converge(cache: FakeCache, opts: { maxEndpointsPerSubset?: number } = {}): Plan {
  const plan = run(cache, opts);
  cache.apply(plan);
  assert.equal(describePlan(run(cache, opts)), '', 'second reconcile should be a no-op');
  return plan;
}

describe('EndpointSlice mirroring reconciler', () => {
  it('mirrors a user Endpoints of a selector-less Service: one slice per subset and family', () => {
    const ep = endpoints([
      { addresses: [{ ip: '192.168.0.10', nodeName: 'node-1' }, { ip: '192.168.0.11' }], notReadyAddresses: [{ ip: '192.168.0.12' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { addresses: [{ ip: '192.168.1.1', hostname: 'db' }, { ip: 'fd00::0:1' }], ports: [{ name: 'sql', port: 5432, protocol: 'TCP', appProtocol: 'postgres' }] },
    ], { labels: { team: 'data' }, annotations: { note: 'kept', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } });
    const cache = new FakeCache([external, ep]);
    const plan = converge(cache);
    assert.equal(describePlan(plan), golden(`
      create EndpointSlice default/ext-* IPv4 ports=[http:TCP:8080]
        192.168.0.10 node=node-1 [ready]
        192.168.0.11 [ready]
        192.168.0.12 []
      create EndpointSlice default/ext-* IPv4 ports=[sql:TCP:5432(postgres)]
        192.168.1.1 hostname=db [ready]
      create EndpointSlice default/ext-* IPv6 ports=[sql:TCP:5432(postgres)]
        fd00::1 [ready]
    `));
    assert.deepEqual(sliceOf(plan.actions[0]).metadata, {
      generateName: 'ext-', namespace: 'default',
      labels: { team: 'data', 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' },
      annotations: { note: 'kept' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Endpoints', name: 'ext', uid: 'ep-uid', controller: true, blockOwnerDeletion: true }],
    });
  });

  it('updates the one slice of a subset when an address comes or goes, and reuses it when the ports change', () => {
    const cache = new FakeCache([external, endpoints([{ addresses: [{ ip: '192.168.0.10' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }])]);
    converge(cache);
    const [s] = cache.slices();
    cache.add(endpoints([{ addresses: [{ ip: '192.168.0.10' }, { ip: '192.168.0.11' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }]));
    assert.equal(describePlan(converge(cache)), golden(`
      update EndpointSlice default/${s!.metadata!.name} rv=${s!.metadata!.resourceVersion} IPv4 ports=[http:TCP:80]
        192.168.0.10 [ready]
        192.168.0.11 [ready]
    `));
    const [s2] = cache.slices();
    cache.add(endpoints([{ addresses: [{ ip: '192.168.0.10' }, { ip: '192.168.0.11' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }]));
    assert.equal(describePlan(converge(cache)), golden(`
      update EndpointSlice default/${s!.metadata!.name} rv=${s2!.metadata!.resourceVersion} IPv4 ports=[http:TCP:8080]
        192.168.0.10 [ready]
        192.168.0.11 [ready]
    `));
  });

  it('follows label and annotation changes of the Endpoints', () => {
    const subsets = [{ addresses: [{ ip: '192.168.0.10' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }];
    const cache = new FakeCache([external, endpoints(subsets)]);
    converge(cache);
    cache.add(endpoints(subsets, { labels: { a: 'b' } }));
    const plan = converge(cache);
    assert.equal(plan.actions.length, 1);
    assert.equal(sliceOf(plan.actions[0]).metadata?.labels?.a, 'b');
  });

  it('deletes mirrored slices when mirroring no longer applies', () => {
    const ep = endpoints([{ addresses: [{ ip: '192.168.0.10' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }]);
    const setups: [string, (c: FakeCache) => void][] = [
      ['skip-mirror label', (c) => c.add(endpoints(ep.subsets!, { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }))],
      ['leader-election record', (c) => c.add(endpoints(ep.subsets!, { annotations: { 'control-plane.alpha.kubernetes.io/leader': '{}' } }))],
      ['Service got a selector', (c) => c.add(service('ext'))],
      ['Service deleted', (c) => c.remove(R.services, 'default', 'ext')],
      ['Endpoints deleted', (c) => c.remove(R.endpoints, 'default', 'ext')],
    ];
    for (const [what, change] of setups) {
      const cache = new FakeCache([external, ep]);
      converge(cache);
      const [s] = cache.slices();
      change(cache);
      assert.equal(describePlan(converge(cache)), `delete EndpointSlice default/${s!.metadata!.name}`, what);
    }
  });

  it('never mirrors for a Service with a selector', () => {
    const cache = new FakeCache([service('ext'), endpoints([{ addresses: [{ ip: '10.244.1.5' }], ports: [{ port: 80, protocol: 'TCP' }] }])]);
    assert.equal(describePlan(run(cache)), '');
  });

  it('skips invalid IPs and addresses beyond maxEndpointsPerSubset, with Warning events', () => {
    const cache = new FakeCache([external, endpoints([
      { addresses: [{ ip: '10.0.0.999' }, { ip: '192.168.0.1' }, { ip: '192.168.0.2' }], notReadyAddresses: [{ ip: '192.168.0.3' }], ports: [{ port: 80, protocol: 'TCP' }] },
    ])]);
    assert.equal(describePlan(run(cache, { maxEndpointsPerSubset: 2 })), golden(`
      create EndpointSlice default/ext-* IPv4 ports=[-:TCP:80]
        192.168.0.1 [ready]
        192.168.0.2 [ready]
      event Warning InvalidIPAddress: Skipped 1 invalid IP addresses when mirroring to EndpointSlices
      event Warning TooManyAddressesToMirror: A max of 2 addresses can be mirrored to EndpointSlices per Endpoints subset. 2 addresses were skipped
    `));
  });

  it('maps Services without selector, mirrorable Endpoints and its own slices to keys', () => {
    const rec = newEndpointSliceMirroringReconciler();
    assert.deepEqual(rec.keysFor(R.services, external), ['default/ext']);
    assert.deepEqual(rec.keysFor(R.services, service('web')), []);
    assert.deepEqual(rec.keysFor(R.services, service('ext'), external), ['default/ext']);
    assert.deepEqual(rec.keysFor(R.services, service('ext', { labels: { a: 'b' } }), service('ext')), []);
    assert.deepEqual(rec.keysFor(R.endpoints, endpoints([])), ['default/ext']);
    assert.deepEqual(rec.keysFor(R.endpoints, endpoints([], { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } })), []);
    const slice = (managedBy: string): K<EndpointSlice> => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4', endpoints: [],
      metadata: { name: 'ext-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': managedBy } },
    });
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('endpointslicemirroring-controller.k8s.io')), ['default/ext']);
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('endpointslice-controller.k8s.io')), []);
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('someone'), slice('endpointslicemirroring-controller.k8s.io')), ['default/ext']);
  });
});
