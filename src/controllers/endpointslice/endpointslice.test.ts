import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { validate } from '../../api/validation/index.js';
import type { Plan } from '../types.js';
import { newEndpointSliceReconciler } from './reconciler.js';
import { FakeCache, describePlan, golden, node, pod, service, sliceOf, type K } from './testing.js';
import { R } from './util.js';

const now = new Date('2026-11-23T12:00:00Z');
const KEY = 'default/web';

function run(cache: FakeCache, opts: { maxEndpointsPerSlice?: number } = {}, key = KEY): Plan {
  const rec = newEndpointSliceReconciler(opts);
  const plan = rec.reconcile(key, cache, now);
  // Through the cache indexes (as the runner reads) the plan is the same as by scanning.
  assert.deepEqual(newEndpointSliceReconciler(opts).reconcile(key, cache.indexed(rec.indexes ?? []), now), plan, 'indexed cache gave another plan');
  // Every slice written must pass the API server's validation.
  for (const a of plan.actions) {
    if (a.verb !== 'create' && a.verb !== 'update') continue;
    const obj = a.object.metadata?.name ? a.object : { ...a.object, metadata: { ...a.object.metadata, name: 'generated-x1' } };
    assert.deepEqual(validate('EndpointSlice', obj), [], `invalid slice: ${JSON.stringify(obj)}`);
  }
  return plan;
}

/** Reconcile, apply, and check that a second reconcile has nothing left to do. */
function converge(cache: FakeCache, opts: { maxEndpointsPerSlice?: number } = {}): Plan {
  const plan = run(cache, opts);
  cache.apply(plan);
  assert.equal(describePlan(run(cache, opts)), '', 'second reconcile should be a no-op');
  return plan;
}

const nodes = [node('node-1', 'zone-a'), node('node-2', 'zone-b')];

describe('EndpointSlice reconciler', () => {
  it('creates one slice listing the matching pods', () => {
    const cache = new FakeCache([
      service('web'), ...nodes,
      pod('a', { ips: ['10.244.1.5'] }),
      pod('b', { ips: ['10.244.2.7'], node: 'node-2' }),
      pod('other', { ips: ['10.244.1.9'], labels: { app: 'db' } }),
      pod('elsewhere', { ips: ['10.244.1.10'], namespace: 'prod' }),
      pod('no-ip'),
      pod('done', { ips: ['10.244.1.11'], phase: 'Succeeded' }),
      pod('failed', { ips: ['10.244.1.12'], phase: 'Failed' }),
    ]);
    const plan = run(cache);
    assert.equal(describePlan(plan), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
        10.244.2.7 pod/b node=node-2 zone=zone-b [ready serving]
    `));
    // The whole object, once, as Kubernetes writes it.
    assert.deepEqual(plan.actions[0], {
      verb: 'create', resource: R.endpointSlices, namespace: 'default',
      object: {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: {
          generateName: 'web-', namespace: 'default',
          labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid-web', controller: true, blockOwnerDeletion: true }],
        },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false },
            targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'pod-uid-a' }, nodeName: 'node-1', zone: 'zone-a',
          },
          {
            addresses: ['10.244.2.7'], conditions: { ready: true, serving: true, terminating: false },
            targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'pod-uid-b' }, nodeName: 'node-2', zone: 'zone-b',
          },
        ],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    });
    converge(cache);
  });

  it('marks not-ready pods ready=false, unless the Service publishes not-ready addresses', () => {
    const pods = [pod('a', { ips: ['10.244.1.5'] }), pod('b', { ips: ['10.244.1.6'], ready: false })];
    assert.equal(describePlan(run(new FakeCache([service('web'), ...nodes, ...pods]))), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
        10.244.1.6 pod/b node=node-1 zone=zone-a []
    `));
    assert.equal(describePlan(run(new FakeCache([service('web', { publishNotReadyAddresses: true }), ...nodes, ...pods]))), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
        10.244.1.6 pod/b node=node-1 zone=zone-a [ready]
    `));
  });

  it('keeps terminating pods with terminating=true, serving as readiness says, never ready', () => {
    const pods = [
      pod('a', { ips: ['10.244.1.5'], deleting: true }),
      pod('b', { ips: ['10.244.1.6'], deleting: true, ready: false }),
    ];
    assert.equal(describePlan(run(new FakeCache([service('web'), ...nodes, ...pods]))), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [serving terminating]
        10.244.1.6 pod/b node=node-1 zone=zone-a [terminating]
    `));
    assert.equal(describePlan(run(new FakeCache([service('web', { publishNotReadyAddresses: true }), ...nodes, ...pods]))), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving terminating]
        10.244.1.6 pod/b node=node-1 zone=zone-a [ready terminating]
    `));
  });

  it('resolves named target ports per pod: one slice per resolved port set', () => {
    const svc = service('web', {
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' },
        { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 9090, appProtocol: 'http' },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
      ],
    });
    const cache = new FakeCache([svc, ...nodes,
      pod('a', { ips: ['10.244.1.5'], ports: [{ name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
      pod('b', { ips: ['10.244.1.6'], ports: [{ name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
      // Another number for the same name: a slice of its own.
      pod('c', { ips: ['10.244.1.7'], ports: [{ name: 'web', containerPort: 8081 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
      // "dns" declared for TCP only: the UDP port is left out for this pod.
      pod('d', { ips: ['10.244.1.8'], ports: [{ name: 'web', containerPort: 8080 }, { name: 'dns', containerPort: 5353 }] }),
    ]);
    assert.equal(describePlan(converge(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080 metrics:TCP:9090(http) dns:UDP:5353]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
        10.244.1.6 pod/b node=node-1 zone=zone-a [ready serving]
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8081 metrics:TCP:9090(http) dns:UDP:5353]
        10.244.1.7 pod/c node=node-1 zone=zone-a [ready serving]
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080 metrics:TCP:9090(http)]
        10.244.1.8 pod/d node=node-1 zone=zone-a [ready serving]
    `));
  });

  it('gives Services without a selector, or with an empty one, nothing and leaves their slices alone', () => {
    const userSlice: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'web-manual', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: [{ addresses: ['192.168.0.1'] }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    };
    for (const selector of [null, {}]) {
      const cache = new FakeCache([service('web', { selector }), userSlice, ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
      assert.equal(describePlan(run(cache)), '');
    }
  });

  it('creates an empty placeholder when nothing matches, and keeps it', () => {
    const cache = new FakeCache([service('web'), ...nodes]);
    const plan = converge(cache);
    assert.equal(describePlan(plan), 'create EndpointSlice default/web-* IPv4 ports=[]');
    assert.deepEqual(sliceOf(plan.actions[0]).endpoints, []);
    // A pod arrives: the placeholder is filled in place.
    cache.add(pod('a', { ips: ['10.244.1.5'] }));
    assert.equal(describePlan(converge(cache)), golden(`
      update EndpointSlice default/web-xxxx1 rv=101 IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
    // And it goes: back to a placeholder, again in place.
    cache.remove(R.pods, 'default', 'a');
    assert.equal(describePlan(converge(cache)), 'update EndpointSlice default/web-xxxx1 rv=102 IPv4 ports=[]');
  });

  it('recreates a slice a user deleted', () => {
    const cache = new FakeCache([service('web'), ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    const [slice] = cache.slices();
    cache.remove(R.endpointSlices, 'default', slice!.metadata!.name!);
    assert.equal(describePlan(converge(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
  });

  it('splits more than maxEndpointsPerSlice endpoints over several slices', () => {
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ips: [`10.244.${1 + Math.floor(i / 200)}.${(i % 200) + 1}`] }));
    const cache = new FakeCache([service('web'), ...nodes, ...pods]);
    const plan = converge(cache);
    assert.deepEqual(plan.actions.map((a) => [a.verb, sliceOf(a).endpoints.length]), [['create', 100], ['create', 100], ['create', 50]]);
    assert.deepEqual(cache.slices().map((s) => s.endpoints.length).sort(), [100, 100, 50].sort());
    // A smaller limit.
    const small = new FakeCache([service('web'), ...nodes, ...pods.slice(0, 5)]);
    assert.deepEqual(converge(small, { maxEndpointsPerSlice: 2 }).actions.map((a) => sliceOf(a).endpoints.length), [2, 2, 1]);
    assert.throws(() => newEndpointSliceReconciler({ maxEndpointsPerSlice: 0 }), RangeError);
  });

  it('adds or removes one pod with exactly one update, leaving other slices untouched', () => {
    const pods = Array.from({ length: 150 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ips: [`10.244.1.${i + 1}`] }));
    const cache = new FakeCache([service('web'), ...nodes, ...pods]);
    converge(cache);
    const before = new Map(cache.slices().map((s) => [s.metadata!.name!, s.endpoints.length]));
    assert.deepEqual([...before.values()].sort(), [100, 50]);

    cache.add(pod('new', { ips: ['10.244.2.1'] }));
    let plan = converge(cache);
    assert.equal(plan.actions.length, 1);
    assert.equal(plan.actions[0]!.verb, 'update');
    // The new endpoint goes where there is room, after the ones already there.
    const updated = sliceOf(plan.actions[0]);
    assert.equal(updated.endpoints.length, 51);
    assert.equal(updated.endpoints[50]!.targetRef!.name, 'new');

    cache.remove(R.pods, 'default', 'p010');
    plan = converge(cache);
    assert.equal(plan.actions.length, 1);
    assert.equal(plan.actions[0]!.verb, 'update');
    assert.equal(sliceOf(plan.actions[0]).endpoints.length, 99);

    // A readiness change is an in-place update of that one endpoint.
    cache.add(pod('p020', { ips: ['10.244.1.21'], ready: false }));
    plan = converge(cache);
    assert.equal(plan.actions.length, 1);
    const ep = sliceOf(plan.actions[0]).endpoints.find((e) => e.targetRef?.name === 'p020');
    assert.deepEqual(ep?.conditions, { ready: false, serving: false, terminating: false });
  });

  it('is a no-op when nothing changed, whatever resourceVersion the pods have', () => {
    const cache = new FakeCache([service('web'), ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    cache.add(pod('a', { ips: ['10.244.1.5'], resourceVersion: '99' }));
    assert.equal(describePlan(run(cache)), '');
  });

  it('writes one slice per address family of a dual-stack Service', () => {
    const cache = new FakeCache([
      service('web', { ipFamilies: ['IPv4', 'IPv6'] }), ...nodes,
      pod('a', { ips: ['10.244.1.5', 'fd00:10:244:1:0:0:0:5'] }),
      pod('b', { ips: ['10.244.1.6'] }),
    ]);
    assert.equal(describePlan(converge(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
        10.244.1.6 pod/b node=node-1 zone=zone-a [ready serving]
      create EndpointSlice default/web-* IPv6 ports=[http:TCP:8080]
        fd00:10:244:1::5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
    // The Service goes back to single-stack: the IPv6 slice goes.
    const v6 = cache.slices().find((s) => s.addressType === 'IPv6')!;
    cache.add(service('web', { ipFamilies: ['IPv4'] }));
    assert.equal(describePlan(converge(cache)), `delete EndpointSlice default/${v6.metadata!.name}`);
  });

  it('IPv6-only Service: IPv6 slices only', () => {
    const cache = new FakeCache([
      service('web', { ipFamilies: ['IPv6'], clusterIP: 'fd00:96::10' }), ...nodes,
      pod('a', { ips: ['10.244.1.5', 'fd00:10:244:1::5'] }),
    ]);
    assert.equal(describePlan(run(cache)), golden(`
      create EndpointSlice default/web-* IPv6 ports=[http:TCP:8080]
        fd00:10:244:1::5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
  });

  it('reuses a slice when the port set changes (update, not delete + create)', () => {
    const cache = new FakeCache([service('web'), ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    const [s] = cache.slices();
    cache.add(service('web', { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 9000 }] }));
    assert.equal(describePlan(converge(cache)), golden(`
      update EndpointSlice default/${s!.metadata!.name} rv=${s!.metadata!.resourceVersion} IPv4 ports=[http:TCP:9000]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
  });

  it('copies the Service labels, marks headless Services, and follows label changes', () => {
    const cache = new FakeCache([
      service('web', { labels: { tier: 'front', 'kubernetes.io/service-name': 'spoof' }, clusterIP: 'None' }), ...nodes,
      pod('a', { ips: ['10.244.1.5'], hostname: 'a', subdomain: 'web' }),
    ]);
    const plan = converge(cache);
    const created = sliceOf(plan.actions[0]);
    assert.deepEqual(created.metadata?.labels, {
      tier: 'front', 'service.kubernetes.io/headless': '',
      'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    });
    assert.equal(created.endpoints[0]!.hostname, 'a');
    cache.add(service('web', { labels: { tier: 'back' }, clusterIP: 'None' }));
    const update = converge(cache);
    assert.equal(update.actions.length, 1);
    assert.equal(sliceOf(update.actions[0]).metadata?.labels?.tier, 'back');
  });

  it('deletes slices of an old Service with the same name, reusing them for the new one', () => {
    const cache = new FakeCache([service('web', { uid: 'old' }), ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    const [old] = cache.slices();
    cache.add(service('web', { uid: 'new' }));
    // Owned by another Service: never reused, deleted; the new one gets its own.
    assert.equal(describePlan(converge(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
      delete EndpointSlice default/${old!.metadata!.name}
    `));
  });

  it('removes its slices when the Service becomes ExternalName or is deleted, and never touches others', () => {
    const cache = new FakeCache([service('web'), ...nodes, pod('a', { ips: ['10.244.1.5'] })]);
    converge(cache);
    const [s] = cache.slices();
    cache.add({ ...s!, metadata: { ...s!.metadata, name: 'mirrored', labels: { ...s!.metadata!.labels, 'endpointslice.kubernetes.io/managed-by': 'someone-else' } } });
    cache.add(service('web', { type: 'ExternalName' }));
    assert.equal(describePlan(run(cache)), `delete EndpointSlice default/${s!.metadata!.name}`);
    cache.remove(R.services, 'default', 'web');
    assert.equal(describePlan(run(cache)), `delete EndpointSlice default/${s!.metadata!.name}`);
  });

  it('selects pods matching every pair of a multi-label selector', () => {
    const cache = new FakeCache([
      service('web', { selector: { app: 'web', tier: 'front' } }), ...nodes,
      pod('a', { ips: ['10.244.1.5'], labels: { app: 'web', tier: 'front', extra: 'x' } }),
      pod('b', { ips: ['10.244.1.6'], labels: { app: 'web' } }),
      pod('c', { ips: ['10.244.1.7'], labels: { tier: 'front' } }),
      pod('d', { ips: ['10.244.1.8'], labels: { app: 'web', tier: 'back' } }),
      pod('e', { ips: ['10.244.1.9'], labels: { app: 'web', tier: 'front' }, namespace: 'prod' }),
    ]);
    assert.equal(describePlan(run(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 zone=zone-a [ready serving]
    `));
  });

  it('skips pods on a Node it does not know and retries', () => {
    const cache = new FakeCache([service('web'), node('node-1'), pod('a', { ips: ['10.244.1.5'] }), pod('b', { ips: ['10.244.9.5'], node: 'gone' })]);
    assert.equal(describePlan(run(cache)), golden(`
      create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
        10.244.1.5 pod/a node=node-1 [ready serving]
      event Warning FailedToUpdateEndpointSlices: Error updating Endpoint Slices for Service default/web: skipping Pod b for Service default/web: Node gone Not Found
      requeue after 5000ms
    `));
    // Unless the Service publishes every address.
    cache.add(service('web', { publishNotReadyAddresses: true }));
    assert.match(describePlan(run(cache)), /10\.244\.9\.5 pod\/b node=gone \[ready serving\]/);
  });
});

describe('EndpointSlice keysFor', () => {
  const r = () => newEndpointSliceReconciler();

  it('maps a Service to itself and a Pod to the Services selecting it', () => {
    const rec = r();
    assert.deepEqual(rec.keysFor(R.services, service('web')), ['default/web']);
    assert.deepEqual(rec.keysFor(R.services, service('all-web', { selector: { app: 'web' } })), ['default/all-web']);
    assert.deepEqual(rec.keysFor(R.services, service('db', { selector: { app: 'db' } })), ['default/db']);
    assert.deepEqual(rec.keysFor(R.services, service('manual', { selector: {} })), ['default/manual']);
    assert.deepEqual(rec.keysFor(R.services, service('web', { namespace: 'prod' })), ['prod/web']);
    const a = pod('a', { ips: ['10.244.1.5'] });
    assert.deepEqual(rec.keysFor(R.pods, a), ['default/all-web', 'default/web']);
    // A label change: the Services that gained or lost the pod.
    const relabelled = pod('a', { ips: ['10.244.1.5'], labels: { app: 'db' }, resourceVersion: '2' });
    assert.deepEqual(rec.keysFor(R.pods, relabelled, a), ['default/all-web', 'default/db', 'default/web']);
    // A change that does not matter to endpoints (same IPs, readiness, …).
    assert.deepEqual(rec.keysFor(R.pods, pod('a', { ips: ['10.244.1.5'], resourceVersion: '2' }), a), []);
    // Readiness does.
    assert.deepEqual(rec.keysFor(R.pods, pod('a', { ips: ['10.244.1.5'], ready: false, resourceVersion: '2' }), a), ['default/all-web', 'default/web']);
  });

  it('uses the cache when the runner passes it', () => {
    const cache = new FakeCache([service('web'), service('db', { selector: { app: 'db' } })]);
    const keysFor = r().keysFor as (...args: unknown[]) => string[];
    assert.deepEqual(keysFor(R.pods, pod('a'), undefined, cache), ['default/web']);
  });

  it('finds the Services selecting a pod through the cache index, as by scanning', () => {
    const cache = new FakeCache([
      service('web'), service('front', { selector: { app: 'web', tier: 'front' } }), service('db', { selector: { app: 'db' } }),
      service('manual', { selector: null }), service('empty', { selector: {} }), service('web', { namespace: 'prod' }),
    ]);
    const rec = r();
    const indexed = cache.indexed(rec.indexes ?? []);
    const cases: [K<Pod>, K<Pod> | undefined, string[]][] = [
      [pod('a'), undefined, ['default/web']],
      [pod('b', { labels: { app: 'web', tier: 'front' } }), undefined, ['default/front', 'default/web']],
      [pod('c', { labels: { tier: 'front' } }), undefined, []],
      [pod('d', { labels: {} }), undefined, []],
      [pod('e', { namespace: 'prod' }), undefined, ['prod/web']],
      // Relabelled from db to front: both sides.
      [pod('f', { labels: { app: 'web', tier: 'front' }, resourceVersion: '2' }), pod('f', { labels: { app: 'db' } }), ['default/db', 'default/front', 'default/web']],
    ];
    for (const [p, old, want] of cases) {
      assert.deepEqual(rec.keysFor(R.pods, p, old, cache), want, p.metadata?.name);
      assert.deepEqual(rec.keysFor(R.pods, p, old, indexed), want, `${p.metadata?.name} (indexed)`);
    }
  });

  it('maps its own slices to their Service and ignores others', () => {
    const rec = r();
    const slice = (managedBy: string, svc = 'web'): K<EndpointSlice> => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4', endpoints: [],
      metadata: { name: 'x', namespace: 'default', labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': managedBy } },
    });
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('endpointslice-controller.k8s.io')), ['default/web']);
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('someone')), []);
    assert.deepEqual(rec.keysFor(R.endpointSlices, slice('endpointslice-controller.k8s.io', 'api'), slice('endpointslice-controller.k8s.io')), ['default/api', 'default/web']);
  });

  it('resyncs the Services it knows when a Node changes zone', () => {
    const rec = r();
    rec.keysFor(R.services, service('web'));
    assert.deepEqual(rec.keysFor(R.nodes, node('node-1', 'b'), node('node-1', 'a')), ['default/web']);
    assert.deepEqual(rec.keysFor(R.nodes, node('node-1', 'a'), node('node-1', 'a')), []);
  });
});
