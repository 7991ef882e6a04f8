// The Service registry path (allocation → prepare → validation), one case per
// type transition, with the allocations before and after.
import { test } from 'node:test';
import { prng } from '../../../api/testing/prng.js';
import assert from 'node:assert/strict';
import type { Service, ServiceSpec } from 'kubernetes-types/core/v1.js';
import { fieldErrorText } from '../../../api/errors.js';
import { withDefaults } from '../../../api/defaults/index.js';
import { allocatedIPs, allocateIP, hasIP } from './ip.js';
import { allocatedPorts, allocatePort, hasPort } from './port.js';
import {
  admitService, newServiceAllocatorState, releaseServiceAllocations, restoreServiceAllocators, snapshotServiceAllocators,
  type AllocationResult, type ServiceAllocatorState,
} from './service.js';


let rv = 1;
/** What kubectl sends, after the API server's decoding defaults. */
function request(spec: ServiceSpec, name = 'web'): Service {
  return withDefaults('Service', {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: String(rv++) },
    spec: { selector: { app: name }, ...spec },
  });
}

function ok(r: AllocationResult): { service: Service; state: ServiceAllocatorState } {
  if (!r.ok) {
    const f = r.failure;
    assert.fail(f.reason === 'Invalid' ? f.errors.map(fieldErrorText).join('\n') : f.message);
  }
  return r;
}

function failure(r: AllocationResult): string[] {
  assert.equal(r.ok, false, 'expected a failure');
  if (r.ok) return [];
  return r.failure.reason === 'Invalid' ? r.failure.errors.map(fieldErrorText) : [`InternalError: ${r.failure.message}`];
}

/** An update as `kubectl apply` sends it: the user's spec over the stored object's metadata. */
function update(stored: Service, spec: ServiceSpec): Service {
  const next = request(spec, stored.metadata!.name);
  next.metadata = { ...stored.metadata };
  return next;
}

const ports = [{ name: 'http', port: 80 }, { name: 'https', port: 443 }];

test('create ClusterIP: one IP from the upper band, SingleStack IPv4', () => {
  const state = newServiceAllocatorState();
  const { service, state: after } = ok(admitService({ service: request({ ports }), state, rand: prng(1) }));
  const s = service.spec!;
  assert.equal(s.clusterIPs!.length, 1);
  assert.equal(s.clusterIP, s.clusterIPs![0]);
  assert.deepEqual([s.ipFamilies, s.ipFamilyPolicy], [['IPv4'], 'SingleStack']);
  assert.ok(hasIP(after.ip.byFamily.IPv4!, s.clusterIP!));
  assert.equal(hasIP(state.ip.byFamily.IPv4!, s.clusterIP!), false, 'the input state is a value and stays as it was');
  assert.deepEqual(service.status, { loadBalancer: {} });
  assert.deepEqual(allocatedPorts(after.nodePorts), []);
});

test('create with a requested clusterIP, then the same IP again', () => {
  let state = newServiceAllocatorState();
  state = ok(admitService({ service: request({ ports, clusterIP: '10.96.0.10' }, 'dns'), state })).state;
  assert.deepEqual(failure(admitService({ service: request({ ports, clusterIP: '10.96.0.10' }, 'dns2'), state })), [
    'spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated',
  ]);
  assert.deepEqual(failure(admitService({ service: request({ ports, clusterIP: '10.0.0.10' }, 'x'), state })), [
    'spec.clusterIPs: Invalid value: []string{"10.0.0.10"}: failed to allocate IP 10.0.0.10: the provided IP (10.0.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
  ]);
});

test('create: malformed IP fields are rejected before anything is allocated', () => {
  const state = newServiceAllocatorState();
  assert.deepEqual(failure(admitService({ service: request({ ports, clusterIP: '10.96.0.300' }), state })), [
    'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  ]);
  assert.deepEqual(failure(admitService({ service: request({ ports, ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] }), state })), [
    "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
  ]);
  assert.deepEqual(failure(admitService({ service: request({ ports, ipFamilyPolicy: 'RequireDualStack' }), state })), [
    'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
  ]);
  assert.deepEqual(failure(admitService({ service: request({ ports, ipFamilies: ['IPv6'] }), state })), [
    'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
  ]);
  assert.deepEqual(failure(admitService({ service: request({ ports, clusterIP: 'fd00::1' }), state })), [
    'spec.clusterIPs[0]: Invalid value: []string{"fd00::1"}: IPv6 is not configured on this cluster',
  ]);
});

test('create: range is full is an internal error', () => {
  let state = newServiceAllocatorState({ serviceClusterIPRange: '10.0.0.0/29' });
  for (let i = 0; i < 6; i++) state = ok(admitService({ service: request({ ports }, `s${i}`), state })).state;
  assert.deepEqual(failure(admitService({ service: request({ ports }, 'one-more'), state })), ['InternalError: failed to allocate a serviceIP: range is full']);
});

test('create NodePort: TCP and UDP of one port number share a nodePort; requests are honoured', () => {
  const state = newServiceAllocatorState();
  const { service, state: after } = ok(admitService({
    service: request({ type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'web', port: 80, nodePort: 30080 }] }),
    state, rand: prng(2),
  }));
  const [udp, tcp, web] = service.spec!.ports!;
  assert.equal(udp.nodePort, tcp.nodePort);
  assert.ok(udp.nodePort! >= 30086, 'dynamic nodePorts avoid the static band');
  assert.equal(web.nodePort, 30080);
  assert.deepEqual(allocatedPorts(after.nodePorts).sort(), [30080, udp.nodePort!].sort());
  assert.equal(service.spec!.externalTrafficPolicy, 'Cluster');
});

test('create NodePort: a taken or out-of-range nodePort fails and allocates nothing', () => {
  let state = newServiceAllocatorState();
  state = ok(admitService({ service: request({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }, 'a'), state })).state;
  const before = snapshotServiceAllocators(state);
  assert.deepEqual(failure(admitService({ service: request({ type: 'NodePort', clusterIP: '10.96.0.50', ports: [{ port: 80, nodePort: 30080 }] }, 'b'), state })), [
    'spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
  ]);
  assert.deepEqual(failure(admitService({ service: request({ type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }, 'c'), state })), [
    'spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
  ]);
  assert.deepEqual(snapshotServiceAllocators(state), before);
  // The IP of the failed create was not kept.
  assert.ok(allocateIP(state.ip.byFamily.IPv4!, '10.96.0.50').ok);
});

test('create: validation failing after allocation keeps nothing', () => {
  const state = newServiceAllocatorState();
  const r = admitService({ service: request({ type: 'NodePort', ports: [{ port: 80 }], sessionAffinity: 'Sticky' }), state });
  assert.deepEqual(failure(r), ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']);
});

test('create LoadBalancer: nodePorts, and a healthCheckNodePort for Local', () => {
  const state = newServiceAllocatorState();
  const { service, state: after } = ok(admitService({ service: request({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports }), state, rand: prng(3) }));
  const s = service.spec!;
  assert.equal(s.allocateLoadBalancerNodePorts, true);
  assert.ok(s.ports!.every((p) => p.nodePort && p.nodePort >= 30086));
  assert.ok(s.healthCheckNodePort! >= 30000);
  assert.equal(allocatedPorts(after.nodePorts).length, 3);
});

test('create LoadBalancer with allocateLoadBalancerNodePorts false: only requested nodePorts', () => {
  const state = newServiceAllocatorState();
  const { service, state: after } = ok(admitService({
    service: request({ type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30001 }] }),
    state,
  }));
  assert.deepEqual(service.spec!.ports!.map((p) => p.nodePort), [undefined, 30001]);
  assert.deepEqual(allocatedPorts(after.nodePorts), [30001]);
});

test('create headless: no IP; SingleStack with a selector, RequireDualStack without', () => {
  const state = newServiceAllocatorState();
  const h = ok(admitService({ service: request({ clusterIP: 'None', ports }), state }));
  assert.deepEqual([h.service.spec!.clusterIPs, h.service.spec!.ipFamilies, h.service.spec!.ipFamilyPolicy], [['None'], ['IPv4'], 'SingleStack']);
  assert.equal(h.state.ip.byFamily.IPv4!.bitmap.count, 0);
  const noSel = request({ clusterIP: 'None' });
  delete noSel.spec!.selector;
  const n = ok(admitService({ service: noSel, state }));
  assert.deepEqual([n.service.spec!.ipFamilies, n.service.spec!.ipFamilyPolicy], [['IPv4', 'IPv6'], 'RequireDualStack']);
});

test('create ExternalName: nothing allocated, no IP fields', () => {
  const state = newServiceAllocatorState();
  const { service, state: after } = ok(admitService({ service: request({ type: 'ExternalName', externalName: 'db.example.com' }), state }));
  assert.equal(service.spec!.clusterIP, undefined);
  assert.equal(service.spec!.ipFamilies, undefined);
  assert.equal(after.ip.byFamily.IPv4!.bitmap.count, 0);
});

test('dual-stack cluster: PreferDualStack gets one IP per family, primary first', () => {
  const state = newServiceAllocatorState({ serviceClusterIPRange: '10.96.0.0/16,fd00:10:96::/112' });
  const { service } = ok(admitService({ service: request({ ports, ipFamilyPolicy: 'PreferDualStack' }), state }));
  assert.deepEqual(service.spec!.ipFamilies, ['IPv4', 'IPv6']);
  assert.equal(service.spec!.clusterIPs!.length, 2);
  assert.ok(service.spec!.clusterIPs![1].startsWith('fd00:10:96::'));
  const v6first = ok(admitService({ service: request({ ports, ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }, 'v6'), state }));
  assert.ok(v6first.service.spec!.clusterIP!.includes(':'));
});

test('dual-stack: upgrade a SingleStack service, then downgrade it', () => {
  let state = newServiceAllocatorState({ serviceClusterIPRange: '10.96.0.0/16,fd00:10:96::/112' });
  const created = ok(admitService({ service: request({ ports }), state }));
  state = created.state;
  const up = ok(admitService({ service: update(created.service, { ports, ipFamilyPolicy: 'PreferDualStack' }), oldService: created.service, state }));
  assert.equal(up.service.spec!.clusterIPs![0], created.service.spec!.clusterIP);
  assert.equal(up.service.spec!.clusterIPs!.length, 2);
  const v6 = up.service.spec!.clusterIPs![1];
  assert.ok(hasIP(up.state.ip.byFamily.IPv6!, v6));
  const down = ok(admitService({ service: update(up.service, { ports, ipFamilyPolicy: 'SingleStack' }), oldService: up.service, state: up.state }));
  assert.deepEqual(down.service.spec!.clusterIPs, [created.service.spec!.clusterIP]);
  assert.deepEqual(down.service.spec!.ipFamilies, ['IPv4']);
  assert.equal(hasIP(down.state.ip.byFamily.IPv6!, v6), false, 'the secondary IP was released');
});

test('update: re-applying the same YAML keeps the allocated IP and nodePorts', () => {
  let state = newServiceAllocatorState();
  const spec: ServiceSpec = { type: 'NodePort', ports };
  const created = ok(admitService({ service: request(spec), state }));
  state = created.state;
  const again = ok(admitService({ service: update(created.service, spec), oldService: created.service, state }));
  assert.equal(again.service.spec!.clusterIP, created.service.spec!.clusterIP);
  assert.deepEqual(again.service.spec!.ports!.map((p) => p.nodePort), created.service.spec!.ports!.map((p) => p.nodePort));
  assert.deepEqual(snapshotServiceAllocators(again.state), snapshotServiceAllocators(state));
});

test('update: the clusterIP cannot change', () => {
  const state0 = newServiceAllocatorState();
  const created = ok(admitService({ service: request({ ports }), state: state0 }));
  const r = admitService({ service: update(created.service, { ports, clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.99'] }), oldService: created.service, state: created.state });
  assert.deepEqual(failure(r), ['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set']);
});

interface Transition { from: ServiceSpec; to: ServiceSpec; check: (before: { service: Service; state: ServiceAllocatorState }, after: { service: Service; state: ServiceAllocatorState }) => void }

const transitions: Record<string, Transition> = {
  'ClusterIP → NodePort: nodePorts allocated, IP kept': {
    from: { ports }, to: { type: 'NodePort', ports },
    check: (b, a) => {
      assert.equal(a.service.spec!.clusterIP, b.service.spec!.clusterIP);
      assert.ok(a.service.spec!.ports!.every((p) => p.nodePort));
      assert.equal(allocatedPorts(a.state.nodePorts).length, 2);
      assert.equal(a.service.spec!.externalTrafficPolicy, 'Cluster');
    },
  },
  'NodePort → LoadBalancer: nodePorts kept': {
    from: { type: 'NodePort', ports }, to: { type: 'LoadBalancer', ports },
    check: (b, a) => {
      assert.deepEqual(a.service.spec!.ports!.map((p) => p.nodePort), b.service.spec!.ports!.map((p) => p.nodePort));
      assert.deepEqual(allocatedPorts(a.state.nodePorts), allocatedPorts(b.state.nodePorts));
      assert.equal(a.service.spec!.allocateLoadBalancerNodePorts, true);
    },
  },
  'LoadBalancer → NodePort: nodePorts kept, allocateLoadBalancerNodePorts dropped': {
    from: { type: 'LoadBalancer', ports }, to: { type: 'NodePort', ports },
    check: (b, a) => {
      assert.deepEqual(a.service.spec!.ports!.map((p) => p.nodePort), b.service.spec!.ports!.map((p) => p.nodePort));
      assert.equal(a.service.spec!.allocateLoadBalancerNodePorts, undefined);
    },
  },
  'NodePort → ClusterIP: nodePorts released and dropped, externalTrafficPolicy dropped': {
    from: { type: 'NodePort', ports }, to: { type: 'ClusterIP', ports },
    check: (b, a) => {
      assert.ok(a.service.spec!.ports!.every((p) => p.nodePort === undefined));
      assert.deepEqual(allocatedPorts(a.state.nodePorts), []);
      assert.equal(a.service.spec!.externalTrafficPolicy, undefined);
      assert.equal(a.service.spec!.clusterIP, b.service.spec!.clusterIP);
    },
  },
  'LoadBalancer (Local) → ClusterIP: nodePorts and healthCheckNodePort released': {
    from: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports }, to: { type: 'ClusterIP', ports },
    check: (b, a) => {
      assert.equal(allocatedPorts(b.state.nodePorts).length, 3);
      assert.deepEqual(allocatedPorts(a.state.nodePorts), []);
      assert.equal(a.service.spec!.healthCheckNodePort, undefined);
    },
  },
  'LoadBalancer Local → Cluster: healthCheckNodePort released': {
    from: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports }, to: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', ports },
    check: (b, a) => {
      assert.equal(a.service.spec!.healthCheckNodePort, undefined);
      assert.equal(hasPort(a.state.nodePorts, b.service.spec!.healthCheckNodePort!), false);
      assert.equal(allocatedPorts(a.state.nodePorts).length, 2);
    },
  },
  'LoadBalancer Cluster → Local: healthCheckNodePort allocated': {
    from: { type: 'LoadBalancer', ports }, to: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports },
    check: (_b, a) => {
      assert.ok(hasPort(a.state.nodePorts, a.service.spec!.healthCheckNodePort!));
      assert.equal(allocatedPorts(a.state.nodePorts).length, 3);
    },
  },
  'ClusterIP → ExternalName: IP released, IP fields dropped': {
    from: { ports }, to: { type: 'ExternalName', externalName: 'db.example.com', ports },
    check: (b, a) => {
      assert.equal(hasIP(a.state.ip.byFamily.IPv4!, b.service.spec!.clusterIP!), false);
      const s = a.service.spec!;
      assert.deepEqual([s.clusterIP, s.clusterIPs, s.ipFamilies, s.ipFamilyPolicy], [undefined, undefined, undefined, undefined]);
    },
  },
  'NodePort → ExternalName: IP and nodePorts released': {
    from: { type: 'NodePort', ports }, to: { type: 'ExternalName', externalName: 'db.example.com', ports },
    check: (_b, a) => {
      assert.equal(a.state.ip.byFamily.IPv4!.bitmap.count, 0);
      assert.deepEqual(allocatedPorts(a.state.nodePorts), []);
      assert.ok(a.service.spec!.ports!.every((p) => p.nodePort === undefined));
    },
  },
  'ExternalName → ClusterIP: an IP allocated': {
    from: { type: 'ExternalName', externalName: 'db.example.com' }, to: { ports },
    check: (b, a) => {
      assert.equal(b.state.ip.byFamily.IPv4!.bitmap.count, 0);
      assert.ok(hasIP(a.state.ip.byFamily.IPv4!, a.service.spec!.clusterIP!));
      assert.deepEqual(a.service.spec!.ipFamilies, ['IPv4']);
    },
  },
  'ExternalName → LoadBalancer: IP and nodePorts allocated': {
    from: { type: 'ExternalName', externalName: 'db.example.com' }, to: { type: 'LoadBalancer', ports },
    check: (_b, a) => {
      assert.equal(a.state.ip.byFamily.IPv4!.bitmap.count, 1);
      assert.equal(allocatedPorts(a.state.nodePorts).length, 2);
    },
  },
  'NodePort: removing a port releases its nodePort': {
    from: { type: 'NodePort', ports }, to: { type: 'NodePort', ports: [ports[0]] },
    check: (b, a) => {
      const removed = b.service.spec!.ports![1].nodePort!;
      assert.equal(hasPort(a.state.nodePorts, removed), false);
      assert.equal(a.service.spec!.ports![0].nodePort, b.service.spec!.ports![0].nodePort);
    },
  },
  'NodePort: adding a port allocates one nodePort': {
    from: { type: 'NodePort', ports: [ports[0]] }, to: { type: 'NodePort', ports },
    check: (_b, a) => assert.equal(allocatedPorts(a.state.nodePorts).length, 2),
  },
};

for (const [name, t] of Object.entries(transitions)) {
  test(`type transition: ${name}`, () => {
    const state0 = newServiceAllocatorState();
    const before = ok(admitService({ service: request(t.from), state: state0, rand: prng(9) }));
    const after = ok(admitService({ service: update(before.service, t.to), oldService: before.service, state: before.state, rand: prng(10) }));
    t.check(before, after);
  });
}

test('type transition keeps fields the user changed: a new nodePort on a move to ClusterIP is an error', () => {
  const state0 = newServiceAllocatorState();
  const before = ok(admitService({ service: request({ type: 'NodePort', ports: [{ port: 80 }] }), state: state0 }));
  const r = admitService({ service: update(before.service, { type: 'ClusterIP', ports: [{ port: 80, nodePort: 31999 }] }), oldService: before.service, state: before.state });
  assert.deepEqual(failure(r), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
});

test('update: a kubectl edit that only changes the type drops the stale nodePorts', () => {
  const state0 = newServiceAllocatorState();
  const before = ok(admitService({ service: request({ type: 'NodePort', ports }), state: state0 }));
  const edited = structuredClone(before.service);
  edited.spec!.type = 'ClusterIP';
  const after = ok(admitService({ service: edited, oldService: before.service, state: before.state }));
  assert.ok(after.service.spec!.ports!.every((p) => p.nodePort === undefined));
  assert.equal(after.service.spec!.externalTrafficPolicy, undefined);
  assert.deepEqual(allocatedPorts(after.state.nodePorts), []);
});

test('update: a failed update keeps the old allocations', () => {
  let state = newServiceAllocatorState();
  const other = ok(admitService({ service: request({ type: 'NodePort', ports: [{ port: 80, nodePort: 30500 }] }, 'other'), state }));
  state = other.state;
  const mine = ok(admitService({ service: request({ type: 'NodePort', ports: [{ port: 80 }] }, 'mine'), state }));
  state = mine.state;
  const r = admitService({ service: update(mine.service, { type: 'NodePort', ports: [{ port: 80, nodePort: 30500 }] }), oldService: mine.service, state });
  assert.deepEqual(failure(r), ['spec.ports[0].nodePort: Invalid value: 30500: provided port is already allocated']);
  assert.ok(hasPort(state.nodePorts, mine.service.spec!.ports![0].nodePort!));
});

test('delete releases everything', () => {
  let state = newServiceAllocatorState();
  const lb = ok(admitService({ service: request({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports }), state }));
  state = releaseServiceAllocations(lb.service, lb.state);
  assert.deepEqual(allocatedIPs(state.ip.byFamily.IPv4!), []);
  assert.deepEqual(allocatedPorts(state.nodePorts), []);
});

test('state snapshots are JSON and restore', () => {
  let state = newServiceAllocatorState({ serviceClusterIPRange: 'fd00::/112,10.96.0.0/16' });
  state = ok(admitService({ service: request({ type: 'NodePort', ports, ipFamilyPolicy: 'PreferDualStack' }), state })).state;
  const snap = JSON.parse(JSON.stringify(snapshotServiceAllocators(state)));
  assert.deepEqual(snap.serviceIPs.map((r: { range: string }) => r.range), ['fd00::/112', '10.96.0.0/16']);
  const back = restoreServiceAllocators(snap);
  assert.equal(back.ip.primaryFamily, 'IPv6');
  assert.deepEqual(snapshotServiceAllocators(back), snapshotServiceAllocators(state));
  assert.ok(allocatePort(back.nodePorts, 30000).ok);
});

test('flags: kube-apiserver refuses unusable ranges', () => {
  assert.throws(() => newServiceAllocatorState({ serviceClusterIPRange: '10.0.0.0/8' }), /^Error: specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12$/);
  assert.throws(() => newServiceAllocatorState({ serviceClusterIPRange: '10.96.0.0/16,fd00::/64' }), /specified --service-cluster-ip-range\[1\] is too large; for 128-bit addresses, the mask must be >= 108/);
  assert.throws(() => newServiceAllocatorState({ serviceClusterIPRange: '10.96.0.0/16,10.97.0.0/16' }), /must be of different IP family/);
  assert.throws(() => newServiceAllocatorState({ serviceClusterIPRange: 'a,b,c' }), /must not contain more than two entries/);
  assert.throws(() => newServiceAllocatorState({ serviceNodePortRange: '3-1' }), /end port cannot be less than start port/);
});
