// The repair run: rebuilt state and the findings, with the repair
// controllers' event reasons and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import { allocatedIPs, allocateIP, withRange } from './ip.js';
import { allocatedPorts, allocatePort } from './port.js';
import { newServiceAllocatorState, type ServiceAllocatorState } from './service.js';
import { noLeaks, repairServiceAllocations } from './repair.js';

function svc(name: string, spec: Service['spec']): Service {
  return { metadata: { name, namespace: 'default' }, spec };
}

function withIPs(state: ServiceAllocatorState, ips: string[]): ServiceAllocatorState {
  let r = state.ip.byFamily.IPv4!;
  for (const ip of ips) {
    const res = allocateIP(r, ip);
    assert.ok(res.ok);
    r = res.range;
  }
  return { ...state, ip: withRange(state.ip, r) };
}

function withPorts(state: ServiceAllocatorState, ports: number[]): ServiceAllocatorState {
  let a = state.nodePorts;
  for (const p of ports) {
    const res = allocatePort(a, p);
    assert.ok(res.ok);
    a = res.allocator;
  }
  return { ...state, nodePorts: a };
}

test('repair: consistent state has no findings', () => {
  const state = withPorts(withIPs(newServiceAllocatorState(), ['10.96.0.10']), [30080]);
  const services = [svc('a', { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080 }] })];
  const r = repairServiceAllocations(services, state);
  assert.deepEqual(r.findings, []);
  assert.deepEqual(allocatedIPs(r.state.ip.byFamily.IPv4!), ['10.96.0.10']);
  assert.deepEqual(allocatedPorts(r.state.nodePorts), [30080]);
});

test('repair: values in use but not allocated are allocated', () => {
  const state = newServiceAllocatorState();
  const services = [svc('a', { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080 }] })];
  const r = repairServiceAllocations(services, state);
  assert.deepEqual(r.findings.map((f) => [f.reason, f.message, f.service?.name, f.event]), [
    ['ClusterIPNotAllocated', 'Cluster IP [IPv4]:10.96.0.10 is not allocated; repairing', 'a', true],
    ['PortNotAllocated', 'Port 30080 is not allocated; repairing', 'a', true],
  ]);
  assert.deepEqual(allocatedIPs(r.state.ip.byFamily.IPv4!), ['10.96.0.10']);
  assert.deepEqual(allocatedPorts(r.state.nodePorts), [30080]);
});

test('repair: duplicates, out-of-range values and invalid IPs are reported', () => {
  const state = withPorts(withIPs(newServiceAllocatorState(), ['10.96.0.10']), [30080]);
  const services = [
    svc('a', { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080 }] }),
    svc('b', { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080 }, { port: 81, nodePort: 8080 }] }),
    svc('c', { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'] }),
    svc('d', { clusterIP: 'junk', clusterIPs: ['junk'] }),
    svc('e', { clusterIP: 'fd00::1', clusterIPs: ['fd00::1'] }),
  ];
  const r = repairServiceAllocations(services, state);
  assert.deepEqual(r.findings.map((f) => `${f.service?.name} ${f.reason}: ${f.message}`), [
    'b ClusterIPAlreadyAllocated: Cluster IP [IPv4]:10.96.0.10 was assigned to multiple services; please recreate service',
    'c ClusterIPOutOfRange: Cluster IP [IPv4]:10.0.0.1 is not within the service CIDR 10.96.0.0/16; please recreate service',
    'd ClusterIPNotValid: Cluster IP <nil> is not a valid IP; please recreate service',
    'e ClusterIPNotValid: Cluster IP fd00::1(IPv6) is of ip family that is no longer configured on cluster; please recreate service',
    'b PortAlreadyAllocated: Port 30080 was assigned to multiple services; please recreate service',
    'b PortOutOfRange: Port 8080 is not within the port range 30000-32767; please recreate service',
  ]);
});

test('repair: TCP and UDP sharing a nodePort in one Service is not a duplicate', () => {
  const state = withPorts(newServiceAllocatorState(), [30053]);
  const services = [svc('dns', { type: 'NodePort', ports: [{ port: 53, protocol: 'UDP', nodePort: 30053 }, { port: 53, protocol: 'TCP', nodePort: 30053 }] })];
  assert.deepEqual(repairServiceAllocations(services, state).findings, []);
});

test('repair: a leaked value is kept for three runs, then released', () => {
  let state = withPorts(withIPs(newServiceAllocatorState(), ['10.96.0.77']), [30077]);
  let leaks = noLeaks;
  const messages: string[][] = [];
  for (let run = 0; run < 3; run++) {
    const r = repairServiceAllocations([], state, leaks);
    messages.push(r.findings.map((f) => f.message));
    state = r.state;
    leaks = r.leaks;
    const stillThere = run < 2;
    assert.equal(allocatedIPs(state.ip.byFamily.IPv4!).includes('10.96.0.77'), stillThere, `run ${run}`);
    assert.equal(allocatedPorts(state.nodePorts).includes(30077), stillThere, `run ${run}`);
  }
  assert.deepEqual(messages, [
    ['the cluster IP 10.96.0.77 may have leaked: flagging for later clean up', 'the node port 30077 may have leaked: flagging for later clean up'],
    [],
    ['the cluster IP 10.96.0.77 appears to have leaked: cleaning up', 'the node port 30077 appears to have leaked: cleaning up'],
  ]);
});

test('repair: a leak that turns out to be used stops counting', () => {
  const state = withIPs(newServiceAllocatorState(), ['10.96.0.77']);
  const first = repairServiceAllocations([], state);
  assert.deepEqual(first.leaks.ips, { '10.96.0.77': 1 });
  const used = [svc('late', { clusterIP: '10.96.0.77', clusterIPs: ['10.96.0.77'] })];
  const second = repairServiceAllocations(used, first.state, first.leaks);
  assert.deepEqual(second.findings, []);
  assert.deepEqual(second.leaks.ips, {});
});

test('repair: Services that exactly fill a small range', () => {
  const state = newServiceAllocatorState({ serviceClusterIPRange: '10.0.0.0/30' });
  const services = ['10.0.0.1', '10.0.0.2'].map((ip, i) => svc(`s${i}`, { clusterIP: ip, clusterIPs: [ip] }));
  const ok = repairServiceAllocations(services, state);
  assert.equal(ok.error, undefined);
  assert.equal(ok.state.ip.byFamily.IPv4!.bitmap.count, 2);
});
