// Which node announces a LoadBalancer IP on the LAN: Cluster policy spreads
// over Ready nodes; Local policy only from a node with a local endpoint that
// can serve, moving when that node loses them (MetalLB's layer-2 rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { announcementDiff, announcements, nodesWithEndpoints } from './announcer.js';

const inLan = (ip: string) => ip.startsWith('172.30.');

function node(name: string, o: { ready?: boolean; unschedulable?: boolean } = {}): Node {
  return {
    metadata: { name },
    spec: o.unschedulable ? { unschedulable: true } : {},
    status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

function lb(name: string, ip: string, etp: 'Cluster' | 'Local' = 'Cluster', o: { ns?: string; ipMode?: string } = {}): Service {
  return {
    metadata: { name, namespace: o.ns ?? 'default' },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: etp, ports: [{ port: 80 }] },
    status: { loadBalancer: { ingress: [{ ip, ...(o.ipMode ? { ipMode: o.ipMode } : {}) }] } },
  };
}

type Cond = { ready?: boolean; serving?: boolean; terminating?: boolean };

function slice(svc: string, eps: { node: string; cond?: Cond }[], ns = 'default', name = `${svc}-abc`): EndpointSlice {
  return {
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: eps.map((e, i) => ({ addresses: [`10.244.0.${i + 10}`], nodeName: e.node, conditions: e.cond ?? { ready: true, serving: true, terminating: false } })),
  };
}

const NODES = ['node-1', 'node-2', 'node-3'].map((n) => node(n));
const IPS = Array.from({ length: 24 }, (_, i) => `172.30.0.${200 + i}`);

test('announcer: Cluster policy spreads the IPs over the Ready nodes, endpoints or not', () => {
  const want = announcements(IPS.map((ip, i) => lb(`s${i}`, ip)), NODES, inLan, []);
  assert.equal(want.size, IPS.length);
  assert.deepEqual(new Set(want.values()), new Set(['node-1', 'node-2', 'node-3']));
  // The same placement as without slices: Cluster is unchanged.
  assert.deepEqual(want, announcements(IPS.map((ip, i) => lb(`s${i}`, ip)), NODES, inLan));
  // NotReady and cordoned nodes announce nothing.
  const two = announcements(IPS.map((ip, i) => lb(`s${i}`, ip)), [node('node-1'), node('node-2', { ready: false }), node('node-3', { unschedulable: true })], inLan, []);
  assert.deepEqual(new Set(two.values()), new Set(['node-1']));
});

test('announcer: Local policy announces only from a node with a ready local endpoint', () => {
  for (const ip of IPS) {
    const want = announcements([lb('web', ip, 'Local')], NODES, inLan, [slice('web', [{ node: 'node-2' }])]);
    assert.deepEqual([...want], [[ip, 'node-2']], ip);
  }
});

test('announcer: Local policy picks among the nodes with endpoints, the same one every time', () => {
  const slices = [slice('web', [{ node: 'node-1' }, { node: 'node-3' }, { node: 'node-3' }])];
  const seen = new Set<string>();
  for (const ip of IPS) {
    const a = announcements([lb('web', ip, 'Local')], NODES, inLan, slices).get(ip);
    assert.ok(a === 'node-1' || a === 'node-3', `${ip} → ${a}`);
    assert.equal(announcements([lb('web', ip, 'Local')], [...NODES].reverse(), inLan, [...slices].reverse()).get(ip), a, 'input order does not matter');
    seen.add(a!);
  }
  assert.deepEqual([...seen].sort(), ['node-1', 'node-3'], 'different IPs spread over the eligible nodes');
});

test('announcer: the IP moves when its node loses its endpoints, and goes when none is left', () => {
  const ip = '172.30.0.210';
  const svc = lb('web', ip, 'Local');
  const both = [slice('web', [{ node: 'node-1' }, { node: 'node-2' }])];
  const first = announcements([svc], NODES, inLan, both).get(ip)!;
  const other = first === 'node-1' ? 'node-2' : 'node-1';
  // The announcing node's endpoint goes not-ready (and not serving): the other node takes over.
  const lost = [slice('web', [{ node: first, cond: { ready: false, serving: false } }, { node: other }])];
  const moved = announcements([svc], NODES, inLan, lost);
  assert.deepEqual([...moved], [[ip, other]]);
  assert.deepEqual(announcementDiff(moved, new Map([[first, new Set([ip])]])), [
    { node: first, add: [], del: [ip] }, { node: other, add: [ip], del: [] },
  ].sort((a, b) => a.node.localeCompare(b.node)));
  // The other node goes NotReady too: nowhere can serve Local traffic, nothing is announced.
  const none = announcements([svc], NODES.map((n) => (n.metadata!.name === other ? node(other, { ready: false }) : n)), inLan, lost);
  assert.deepEqual([...none], []);
  assert.deepEqual([...announcements([svc], NODES, inLan, [])], [], 'no endpoints at all');
});

test('announcer: which endpoints count (MetalLB EndpointCanServe): ready, unset, or serving while terminating', () => {
  const svc = lb('web', '172.30.0.201', 'Local');
  const on = (cond: Cond | undefined) => [...nodesWithEndpoints(svc, [slice('web', [{ node: 'node-1', cond: cond as Cond }])])];
  assert.deepEqual(on({ ready: true }), ['node-1']);
  assert.deepEqual(on({}), ['node-1'], 'ready unset counts as ready');
  assert.deepEqual(on({ ready: false, serving: true, terminating: true }), ['node-1']);
  assert.deepEqual(on({ ready: false, serving: false }), []);
  // Only the service's own slices, in its namespace.
  assert.deepEqual([...nodesWithEndpoints(svc, [slice('other', [{ node: 'node-1' }]), slice('web', [{ node: 'node-2' }], 'elsewhere')])], []);
  const noNode = slice('web', [{ node: 'node-1' }]);
  delete noNode.endpoints[0]!.nodeName;
  assert.deepEqual([...nodesWithEndpoints(svc, [noNode])], []);
});

test('announcer: a Local IP shared by two services needs a node serving both', () => {
  const ip = '172.30.0.205';
  const slices = [slice('tcp', [{ node: 'node-1' }, { node: 'node-2' }]), slice('udp', [{ node: 'node-2' }, { node: 'node-3' }])];
  assert.deepEqual([...announcements([lb('tcp', ip, 'Local'), lb('udp', ip, 'Local')], NODES, inLan, slices)], [[ip, 'node-2']]);
});

test('announcer: a Local node that is NotReady or cordoned does not announce', () => {
  const ip = '172.30.0.207';
  const slices = [slice('web', [{ node: 'node-1' }, { node: 'node-3' }])];
  const nodes = [node('node-1', { ready: false }), node('node-2'), node('node-3', { unschedulable: true })];
  assert.deepEqual([...announcements([lb('web', ip, 'Local')], nodes, inLan, slices)], []);
});

test('announcer: not ours to announce: IPv6, outside the LAN, ipMode Proxy, not a LoadBalancer', () => {
  const svcs = [lb('a', 'fd00::1'), lb('b', '10.1.2.3'), lb('c', '172.30.0.220', 'Cluster', { ipMode: 'Proxy' }),
    { ...lb('d', '172.30.0.221'), spec: { type: 'ClusterIP' } } as Service];
  assert.deepEqual([...announcements(svcs, NODES, inLan, [])], []);
});
