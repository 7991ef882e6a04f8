import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from 'kubernetes-types/discovery/v1.js';
import { buildServicePortsOf, buildSnapshot, diffSnapshots, serviceKey, SnapshotCache, sliceServiceKey, type ServicePortSnapshot } from './snapshot.js';
import { changedScenarioSnapshot, ep, nodeIPs, nodeName, scenarioSnapshot, service, services, slice, slices } from './testdata/scenario.js';

const snap = scenarioSnapshot();

function port(id: string, s = snap): ServicePortSnapshot {
  const sp = s.servicePorts.find((p) => p.id === id);
  assert.ok(sp, `no service port ${id} in ${s.servicePorts.map((p) => p.id).join(', ')}`);
  return sp;
}

const keys = (eps: { key: string }[]) => eps.map((e) => e.key);

describe('buildSnapshot', () => {
  it('lists every proxied service port, sorted, and skips headless and ExternalName services', () => {
    assert.deepEqual(snap.servicePorts.map((p) => p.id), [
      'default/draining/TCP',
      'default/dual:http/TCP',
      'default/empty/TCP',
      'default/itp-local/TCP',
      'default/itp-local-remote/TCP',
      'default/lb-remote/TCP',
      'default/lb:https/TCP',
      'default/multi:dns/UDP',
      'default/multi:http/TCP',
      'default/multi:metrics/TCP',
      'default/nodeport/TCP',
      'default/sticky/TCP',
      'default/web:http/TCP',
    ]);
  });

  it('gathers endpoints from all slices, once per (ip, port), and uses the ready ones', () => {
    const web = port('default/web:http/TCP');
    assert.deepEqual(keys(web.endpoints), ['10.244.1.5:8080', '10.244.2.6:8080', '10.244.2.7:8080', '10.244.2.8:8080']);
    const v4 = web.families[0];
    assert.deepEqual(keys(v4.clusterEndpoints), ['10.244.1.5:8080', '10.244.2.6:8080', '10.244.2.7:8080']);
    assert.equal(v4.endpoints.find((e) => e.ip === '10.244.1.5')!.isLocal, true);
    assert.equal(v4.endpoints.find((e) => e.ip === '10.244.2.6')!.isLocal, false);
    assert.equal(v4.hasInternalEndpoints, true);
  });

  it('resolves the target port per named ServicePort and protocol', () => {
    assert.deepEqual(keys(port('default/multi:metrics/TCP').endpoints), ['10.244.1.20:9100', '10.244.2.20:9100']);
    assert.deepEqual(keys(port('default/multi:dns/UDP').endpoints), ['10.244.1.20:5353', '10.244.2.20:5353']);
    const s = buildSnapshot({
      services: [service('p', { clusterIPs: ['10.96.5.5'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] })],
      slices: [slice('p', 'p-1', [{ name: 'dns', port: 53, protocol: 'TCP' }], [ep('10.244.1.1')])],
      nodeName, nodeIPs,
    });
    assert.deepEqual(s.servicePorts[0].endpoints, [], 'a TCP endpoint port does not serve a UDP service port');
  });

  it('keeps only VIP-mode load-balancer IPs', () => {
    const lb = port('default/lb:https/TCP');
    assert.deepEqual(lb.loadBalancerIPs, ['203.0.113.10']);
    assert.deepEqual(lb.externalIPs, ['198.51.100.5']);
    assert.deepEqual(lb.loadBalancerSourceRanges, ['198.51.100.0/24']);
    assert.equal(lb.nodePort, 30443);
    assert.equal(lb.healthCheckNodePort, 32000);
  });

  it('Local external policy: local endpoints for outside traffic, all for short-circuits', () => {
    const f = port('default/lb:https/TCP').families[0];
    assert.equal(f.externalPolicyLocal, true);
    assert.deepEqual(keys(f.localEndpoints), ['10.244.1.6:8443']);
    assert.deepEqual(keys(f.clusterEndpoints), ['10.244.1.6:8443', '10.244.2.10:8443']);
    assert.deepEqual(keys(f.reachableEndpoints), ['10.244.1.6:8443', '10.244.2.10:8443']);
    assert.equal(f.hasExternalEndpoints, true);
  });

  it('Local external policy without a local endpoint: drop outside traffic, keep ClusterIP', () => {
    const f = port('default/lb-remote/TCP').families[0];
    assert.equal(f.hasEndpoints, true);
    assert.equal(f.hasInternalEndpoints, true);
    assert.equal(f.hasExternalEndpoints, false);
    assert.deepEqual(f.localEndpoints, []);
  });

  it('internalTrafficPolicy Local uses only this node', () => {
    const local = port('default/itp-local/TCP').families[0];
    assert.equal(local.usesClusterEndpoints, false);
    assert.deepEqual(keys(local.reachableEndpoints), ['10.244.1.9:8080']);
    const remote = port('default/itp-local-remote/TCP').families[0];
    assert.equal(remote.hasEndpoints, true);
    assert.equal(remote.hasInternalEndpoints, false);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    assert.deepEqual(keys(port('default/draining/TCP').families[0].clusterEndpoints), ['10.244.2.13:8080']);
  });

  it('falls back separately for the Local policy', () => {
    const s = buildSnapshot({
      services: [service('x', { type: 'NodePort', clusterIPs: ['10.96.5.1'], etp: 'Local', ports: [{ port: 80, nodePort: 30500 }] })],
      slices: [slice('x', 'x-1', [{ port: 80, protocol: 'TCP' }], [
        ep('10.244.1.50', { node: nodeName, ready: false, serving: true, terminating: true }),
        ep('10.244.2.50', { node: 'node-b' }),
      ])],
      nodeName, nodeIPs,
    });
    const f = s.servicePorts[0].families[0];
    assert.deepEqual(keys(f.clusterEndpoints), ['10.244.2.50:80']);
    assert.deepEqual(keys(f.localEndpoints), ['10.244.1.50:80']);
    assert.deepEqual(keys(f.reachableEndpoints), ['10.244.1.50:80', '10.244.2.50:80']);
  });

  it('prefers the non-terminating copy of a duplicated endpoint', () => {
    const mk = (name: string, e: Endpoint) => slice('d', name, [{ port: 80, protocol: 'TCP' }], [e]);
    for (const order of [['a', 'b'], ['b', 'a']]) {
      const byName: Record<string, ReturnType<typeof mk>> = {
        a: mk('d-a', ep('10.244.1.60', { node: 'node-b', ready: false, serving: true, terminating: true })),
        b: mk('d-b', ep('10.244.1.60', { node: nodeName })),
      };
      const s = buildSnapshot({
        services: [service('d', { clusterIPs: ['10.96.5.2'], ports: [{ port: 80 }] })],
        slices: order.map((o) => byName[o]),
        nodeName, nodeIPs,
      });
      const e = s.servicePorts[0].endpoints;
      assert.equal(e.length, 1);
      assert.equal(e[0].terminating, false);
      assert.equal(e[0].isLocal, true);
    }
  });

  it('splits dual-stack services per family', () => {
    const dual = port('default/dual:http/TCP');
    assert.deepEqual(dual.clusterIPs, ['10.96.0.20', 'fd00:10:96::20']);
    assert.deepEqual(dual.families.map((f) => [f.family, f.clusterIP, keys(f.clusterEndpoints)]), [
      ['IPv4', '10.96.0.20', ['10.244.1.11:8080']],
      ['IPv6', 'fd00:10:96::20', ['[fd00:10:244:1::11]:8080', '[fd00:10:244:2::12]:8080']],
    ]);
  });

  it('defaults the affinity timeout to 3 hours', () => {
    assert.equal(port('default/sticky/TCP').stickyMaxAgeSeconds, 600);
    const svc = service('s', { clusterIPs: ['10.96.5.3'], ports: [{ port: 80 }] });
    svc.spec!.sessionAffinity = 'ClientIP';
    const s = buildSnapshot({ services: [svc], slices: [], nodeName, nodeIPs });
    assert.equal(s.servicePorts[0].stickyMaxAgeSeconds, 10800);
    assert.equal(s.servicePorts[0].families[0].hasEndpoints, false);
  });

  it('honours zone hints only when every ready endpoint has one for some zone', () => {
    const hinted = (ip: string, zone: string, node: string): Endpoint => ({ ...ep(ip, { node }), hints: { forZones: [{ name: zone }] } });
    const mk = (eps: Endpoint[]) => buildSnapshot({
      services: [service('z', { clusterIPs: ['10.96.5.4'], ports: [{ port: 80 }] })],
      slices: [slice('z', 'z-1', [{ port: 80, protocol: 'TCP' }], eps)],
      nodeName, nodeIPs, nodeLabels: { 'topology.kubernetes.io/zone': 'zone-a' },
    }).servicePorts[0].families[0];
    assert.deepEqual(keys(mk([hinted('10.244.1.70', 'zone-a', 'node-a'), hinted('10.244.2.70', 'zone-b', 'node-b')]).clusterEndpoints), ['10.244.1.70:80']);
    assert.deepEqual(keys(mk([hinted('10.244.1.70', 'zone-a', 'node-a'), ep('10.244.2.70', { node: 'node-b' })]).clusterEndpoints), ['10.244.1.70:80', '10.244.2.70:80']);
    assert.deepEqual(keys(mk([hinted('10.244.1.70', 'zone-c', 'node-a'), hinted('10.244.2.70', 'zone-b', 'node-b')]).clusterEndpoints), ['10.244.1.70:80', '10.244.2.70:80']);
  });

  it('ignores services and slices that belong to another proxy', () => {
    const svc = service('other', { clusterIPs: ['10.96.5.5'], ports: [{ port: 80 }] });
    svc.metadata!.labels = { 'service.kubernetes.io/service-proxy-name': 'someone-else' };
    const mine = service('mine', { clusterIPs: ['10.96.5.6'], ports: [{ port: 80 }] });
    const sl = slice('mine', 'mine-1', [{ port: 80, protocol: 'TCP' }], [ep('10.244.1.80')]);
    sl.metadata!.labels!['service.kubernetes.io/headless'] = '';
    const s = buildSnapshot({ services: [svc, mine], slices: [sl], nodeName, nodeIPs });
    assert.deepEqual(s.servicePorts.map((p) => p.id), ['default/mine/TCP']);
    assert.deepEqual(s.servicePorts[0].endpoints, []);
  });
});

describe('diffSnapshots', () => {
  it('names the service ports and services that changed', () => {
    const d = diffSnapshots(snap, changedScenarioSnapshot());
    assert.deepEqual(d.added, ['default/fresh:http/TCP']);
    assert.deepEqual(d.removed, ['default/empty/TCP']);
    assert.deepEqual(d.changed, ['default/lb-remote/TCP', 'default/sticky/TCP', 'default/web:http/TCP']);
    assert.deepEqual(d.services, ['default/empty', 'default/fresh', 'default/lb-remote', 'default/sticky', 'default/web']);
    assert.equal(d.nodeChanged, false);
  });

  it('reports nothing for equal snapshots and flags node changes', () => {
    assert.deepEqual(diffSnapshots(snap, scenarioSnapshot()).servicePorts, []);
    const relabelled = { ...snap, nodeLabels: { ...snap.nodeLabels, 'topology.kubernetes.io/zone': 'zone-a' } };
    assert.equal(diffSnapshots(snap, relabelled).nodeChanged, true);
  });
});

describe('SnapshotCache', () => {
  const labels = { 'kubernetes.io/hostname': nodeName };
  const build = (cache: SnapshotCache, svcs = services, sls = slices) => {
    for (const svc of svcs) {
      const mine = sls.filter((sl) => sliceServiceKey(sl) === serviceKey(svc));
      cache.set(serviceKey(svc), buildServicePortsOf(svc, mine, nodeName, labels));
    }
    return cache.snapshot({ nodeName, nodeIPs, nodeLabels: labels });
  };

  it('gives what buildSnapshot gives', () => {
    assert.deepEqual(build(new SnapshotCache()), scenarioSnapshot());
  });

  it('keeps unchanged service ports (identity) and the list when nothing changed; patches or re-sorts otherwise', () => {
    const cache = new SnapshotCache();
    const a = build(cache);
    const same = build(cache);
    assert.equal(same.servicePorts, a.servicePorts, 'an unchanged rebuild keeps the very same list');
    const web = services.find((s) => s.metadata!.name === 'web')!;
    const webSlices = slices.filter((sl) => sliceServiceKey(sl) === serviceKey(web));
    const changed: typeof webSlices = [];
    assert.equal(cache.set(serviceKey(web), buildServicePortsOf(web, changed, nodeName, labels)), true);
    const b = cache.snapshot({ nodeName, nodeIPs, nodeLabels: labels });
    assert.notEqual(b.servicePorts, a.servicePorts, 'an earlier snapshot keeps its own list');
    assert.deepEqual(a.servicePorts.map((sp) => sp.id), b.servicePorts.map((sp) => sp.id));
    for (let i = 0; i < a.servicePorts.length; i++) {
      const sp = a.servicePorts[i]!;
      if (sp.service === 'web') assert.notEqual(b.servicePorts[i], sp);
      else assert.equal(b.servicePorts[i], sp);
    }
    assert.deepEqual(b, buildSnapshot({ services, slices: slices.filter((sl) => !webSlices.includes(sl) || changed.includes(sl)), nodeName, nodeIPs, nodeLabels: labels }));
    // A service going away (and coming back) re-sorts.
    cache.set(serviceKey(web), undefined);
    assert.ok(!cache.snapshot({ nodeName, nodeIPs }).servicePorts.some((sp) => sp.service === 'web'));
    assert.deepEqual(build(cache), scenarioSnapshot());
  });
});
