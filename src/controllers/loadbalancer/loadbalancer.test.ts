import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../client/types.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { configMap, service, type ServiceOpts } from '../testing/builders.js';
import { loadBalancerController } from './loadbalancer.js';
import { parsePoolConfig } from './pools.js';

const NOW = new Date('2024-01-01T01:00:00Z');
const lb = loadBalancerController();

const POOLS = `
- name: default
  addresses: ["192.168.0.200-192.168.0.202", "fd00::/126"]
- name: manual
  autoAssign: false
  addresses: ["10.0.0.0/30"]
- name: team-a
  autoAssign: true
  namespaces: [team-a]
  addresses: ["172.16.0.10"]
`;
const cm = (text = POOLS): KObject => configMap('svcnet-lb-pools', 'kube-system', { pools: text });
// Same creationTimestamp unless a case says otherwise: ties go by namespace/name.
const svc = (name: string, o: ServiceOpts = {}): KObject => service(name, o);

interface Outcome {
  /** The ingress IPs written, or null when the status is not written. */
  ips: string[] | null;
  events: string[];
}

function outcome(objs: KObject[], key: string): Outcome {
  const plan = lb.reconcile(key, new FakeCache(objs), NOW);
  const patch = plan.actions.find((a) => a.verb === 'patch' && a.subresource === 'status' && `${a.namespace}/${a.name}` === key);
  let ips: string[] | null = null;
  if (patch?.verb === 'patch') {
    const ingress = (patch.patch as { status: { loadBalancer: { ingress: { ip: string; ipMode: string }[] | null } } }).status.loadBalancer.ingress;
    ips = (ingress ?? []).map((i) => { assert.equal(i.ipMode, 'VIP'); return i.ip; });
  }
  return { ips, events: (plan.events ?? []).map((e) => `${e.type} ${e.reason}: ${e.message}`) };
}

const cases: { name: string; objs: KObject[]; key?: string; want: Outcome }[] = [
  { name: 'a pending service gets the first address', objs: [cm(), svc('web')],
    want: { ips: ['192.168.0.200'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.200"]'] } },
  { name: 'addresses held by other services are taken', objs: [cm(), svc('a', { ingress: ['192.168.0.200'] }), svc('web')],
    want: { ips: ['192.168.0.201'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.201"]'] } },
  { name: 'an assigned service is left alone', objs: [cm(), svc('web', { ingress: ['192.168.0.202'] })], want: { ips: null, events: [] } },
  { name: 'spec.loadBalancerIP is honoured, even from a manual pool', objs: [cm(), svc('web', { loadBalancerIP: '10.0.0.2' })],
    want: { ips: ['10.0.0.2'], events: ['Normal IPAllocated: Assigned IP ["10.0.0.2"]'] } },
  { name: 'the metallb annotation is honoured', objs: [cm(), svc('web', { annotations: { 'metallb.universe.tf/loadBalancerIPs': '192.168.0.202' } })],
    want: { ips: ['192.168.0.202'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.202"]'] } },
  { name: 'a requested IP outside every pool fails', objs: [cm(), svc('web', { annotations: { 'svcnet.io/loadBalancerIPs': '10.9.9.9' } })],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": requested IP 10.9.9.9 is not in any address pool'] } },
  { name: 'a requested IP in use fails', objs: [cm(), svc('a', { ingress: ['192.168.0.200'] }), svc('web', { loadBalancerIP: '192.168.0.200' })],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": requested IP 192.168.0.200 is already in use by default/a (neither service allows sharing)'] } },
  { name: 'a changed request moves the service', objs: [cm(), svc('web', { ingress: ['192.168.0.200'], loadBalancerIP: '192.168.0.201' })],
    want: { ips: ['192.168.0.201'], events: ['Normal IPReleased: Released IP 192.168.0.200: the service requests other addresses', 'Normal IPAllocated: Assigned IP ["192.168.0.201"]'] } },
  { name: 'an exhausted pool fails', objs: [cm(), svc('a', { ingress: ['192.168.0.200'] }), svc('b', { ingress: ['192.168.0.201'] }), svc('c', { ingress: ['192.168.0.202'] }), svc('web')],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": no available IPs in pool "default"'] } },
  { name: 'the address-pool annotation picks a pool', objs: [cm(), svc('web', { annotations: { 'svcnet.io/address-pool': 'manual' } })],
    want: { ips: ['10.0.0.0'], events: ['Normal IPAllocated: Assigned IP ["10.0.0.0"]'] } },
  { name: 'an unknown pool fails', objs: [cm(), svc('web', { annotations: { 'svcnet.io/address-pool': 'nope' } })],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": pool "nope" does not exist'] } },
  { name: 'a namespaced pool serves its namespace', objs: [cm(), svc('web', { ns: 'team-a', annotations: { 'svcnet.io/address-pool': 'team-a' } })],
    key: 'team-a/web', want: { ips: ['172.16.0.10'], events: ['Normal IPAllocated: Assigned IP ["172.16.0.10"]'] } },
  { name: 'a namespaced pool refuses other namespaces', objs: [cm(), svc('web', { annotations: { 'svcnet.io/address-pool': 'team-a' } })],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": pool "team-a" may not be used by this service (namespace or label selector)'] } },
  { name: 'sharing: same key, different ports share an address', objs: [cm(),
    svc('a', { ingress: ['192.168.0.200'], annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 80 }] }),
    svc('web', { annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 443 }] })],
  want: { ips: ['192.168.0.200'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.200"]'] } },
  { name: 'sharing: a port clash means another address', objs: [cm(),
    svc('a', { ingress: ['192.168.0.200'], annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 80 }] }),
    svc('web', { annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 80 }] })],
  want: { ips: ['192.168.0.201'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.201"]'] } },
  { name: 'sharing: UDP and TCP on one port do not clash', objs: [cm(),
    svc('a', { ingress: ['192.168.0.200'], annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 53, protocol: 'UDP' }] }),
    svc('web', { loadBalancerIP: '192.168.0.200', annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 53 }] })],
  want: { ips: ['192.168.0.200'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.200"]'] } },
  { name: 'sharing: externalTrafficPolicy must match', objs: [cm(),
    svc('a', { ingress: ['192.168.0.200'], annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 80 }] }),
    svc('web', { loadBalancerIP: '192.168.0.200', externalTrafficPolicy: 'Local', annotations: { 'svcnet.io/allow-shared-ip': 'k' }, ports: [{ port: 443 }] })],
  want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": requested IP 192.168.0.200 is already in use by default/a (their externalTrafficPolicy differs)'] } },
  { name: 'dual stack gets one address per family', objs: [cm(), svc('web', { ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'RequireDualStack' })],
    want: { ips: ['fd00::', '192.168.0.200'], events: ['Normal IPAllocated: Assigned IP ["fd00::" "192.168.0.200"]'] } },
  { name: 'PreferDualStack goes without a missing family', objs: [cm('- name: v4\n  addresses: ["192.168.1.1"]'), svc('web', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' })],
    want: { ips: ['192.168.1.1'], events: ['Normal IPAllocated: Assigned IP ["192.168.1.1"]'] } },
  { name: 'RequireDualStack does not', objs: [cm('- name: v4\n  addresses: ["192.168.1.1"]'), svc('web', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' })],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": no address pool has IPv6 addresses'] } },
  { name: 'a conflict: the older service keeps the address, the younger moves', objs: [cm(),
    svc('old', { ingress: ['192.168.0.200'], created: '2024-01-01T00:00:00Z' }), svc('web', { ingress: ['192.168.0.200'], created: '2024-01-01T00:00:09Z' })],
  want: { ips: ['192.168.0.201'], events: [
    'Warning IPConflict: IP 192.168.0.200 is also assigned to older service default/old (neither service allows sharing); releasing it',
    'Normal IPAllocated: Assigned IP ["192.168.0.201"]'] } },
  { name: 'the older side of a conflict stays', objs: [cm(),
    svc('web', { ingress: ['192.168.0.200'], created: '2024-01-01T00:00:00Z' }), svc('young', { ingress: ['192.168.0.200'], created: '2024-01-01T00:00:09Z' })],
  want: { ips: null, events: [] } },
  { name: 'an address no longer in any pool is replaced', objs: [cm(), svc('web', { ingress: ['192.168.9.9'] })],
    want: { ips: ['192.168.0.200'], events: ['Normal IPReleased: Released IP 192.168.9.9: the address is in no pool', 'Normal IPAllocated: Assigned IP ["192.168.0.200"]'] } },
  { name: 'another loadBalancerClass is not ours', objs: [cm(), svc('web', { lbClass: 'example.com/other' })], want: { ips: null, events: [] } },
  { name: 'our class by name is ours', objs: [cm(), svc('web', { lbClass: 'svcnet.io/lb' })],
    want: { ips: ['192.168.0.200'], events: ['Normal IPAllocated: Assigned IP ["192.168.0.200"]'] } },
  { name: 'leaving type LoadBalancer releases the address', objs: [cm(), svc('web', { type: 'ClusterIP', ingress: ['192.168.0.200'] })],
    want: { ips: [], events: ['Normal IPReleased: Released IP 192.168.0.200: the service is no longer of type LoadBalancer'] } },
  { name: 'another class holding our address releases it', objs: [cm(), svc('web', { lbClass: 'x/y', ingress: ['192.168.0.200'] })],
    want: { ips: [], events: ['Normal IPReleased: Released IP 192.168.0.200: loadBalancerClass is "x/y", not "svcnet.io/lb"'] } },
  { name: 'another class holding foreign addresses is left alone', objs: [cm(), svc('web', { lbClass: 'x/y', ingress: ['1.2.3.4'] })], want: { ips: null, events: [] } },
  { name: 'without pools a service stays pending and says why', objs: [svc('web')],
    want: { ips: null, events: ['Warning AllocationFailed: Failed to allocate IP for "default/web": no address pools are configured (ConfigMap kube-system/svcnet-lb-pools not found)'] } },
  { name: 'without pools nothing is taken away', objs: [svc('web', { ingress: ['192.168.0.200'] })], want: { ips: null, events: [] } },
  { name: 'an invalid configuration changes nothing', objs: [cm('- name: x\n  addresses: ["nope"]'), svc('web', { ingress: ['192.168.9.9'] })],
    want: { ips: null, events: [] } },
  { name: 'a service being deleted gets nothing new', objs: [cm(), svc('web', { deleting: true })], want: { ips: null, events: [] } },
];

for (const c of cases) {
  test(`loadbalancer: ${c.name}`, () => {
    assert.deepEqual(outcome(c.objs, c.key ?? 'default/web'), c.want);
  });
}

test('loadbalancer: the * key re-examines every service and reports a bad config on the ConfigMap', () => {
  const c = new FakeCache([cm(), svc('a', { ingress: ['192.168.0.200'] }), svc('b'), svc('c', { type: 'ClusterIP' })]);
  const plan = lb.reconcile('*', c, NOW);
  assert.deepEqual(plan.actions.map((a) => a.verb === 'patch' && `${a.name}/${a.subresource}`), ['b/status']);
  const bad = lb.reconcile('*', new FakeCache([cm('- name: x\n  addresses: ["10.0.0.0/24"]\n- name: y\n  addresses: ["10.0.0.5"]'), svc('b')]), NOW);
  assert.deepEqual(bad.actions, []);
  assert.equal(bad.events?.length, 1);
  assert.equal(bad.events?.[0]?.involvedObject.kind, 'ConfigMap');
  assert.match(bad.events?.[0]?.message ?? '', /overlap/);
});

test('loadbalancer: deleting a service frees its address for a pending one', () => {
  const c = new FakeCache([cm('- name: one\n  addresses: ["192.168.5.5"]'), svc('a', { ingress: ['192.168.5.5'] }), svc('b')]);
  assert.deepEqual(lb.reconcile('default/b', c, NOW).actions, []);
  const gone = c.get(res('services'), 'default', 'a')!;
  c.remove(res('services'), 'default', 'a');
  assert.deepEqual(lb.keysFor(res('services'), gone), ['default/a', '*']);
  const plan = lb.reconcile('*', c, NOW);
  c.apply(plan, NOW);
  const b = c.get(res('services'), 'default', 'b')!;
  assert.deepEqual((b['status'] as { loadBalancer: { ingress: { ip: string }[] } }).loadBalancer.ingress.map((i) => i.ip), ['192.168.5.5']);
  // Converged: a restart (same cache) allocates nothing twice.
  assert.deepEqual(lb.reconcile('*', c, NOW).actions, []);
  assert.deepEqual(lb.reconcile('default/b', c, NOW).actions, []);
});

test('loadbalancer: concurrent reconciles from one stale cache agree', () => {
  const c = new FakeCache([cm(), svc('a', { created: '2024-01-01T00:00:01Z' }), svc('b', { created: '2024-01-01T00:00:02Z' })]);
  const pa = outcome(c.list(res('services')).concat(c.list(res('configmaps'))), 'default/a');
  const pb = outcome(c.list(res('services')).concat(c.list(res('configmaps'))), 'default/b');
  assert.deepEqual([pa.ips, pb.ips], [['192.168.0.200'], ['192.168.0.201']]);
});

test('loadbalancer: keys', () => {
  assert.deepEqual(lb.keysFor(res('configmaps'), cm()), ['*']);
  assert.deepEqual(lb.keysFor(res('configmaps'), configMap('other', 'kube-system', {})), []);
  assert.deepEqual(lb.keysFor(res('services'), svc('web')), ['default/web']);
});

test('loadbalancer: pool configuration parsing', () => {
  const ok = parsePoolConfig(`[{"name": "p", "addresses": ["10.0.0.0/30", "10.0.1.1 - 10.0.1.2", "10.0.2.1", "fd00::/120"], "avoidBuggyIPs": true,
    "serviceSelector": {"matchLabels": {"tier": "edge"}}}]`);
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.pools[0]?.ranges.map((r) => [r.family, r.last - r.first + 1n]), [['IPv4', 4n], ['IPv4', 2n], ['IPv4', 1n], ['IPv6', 256n]]);
  assert.equal(ok.pools[0]?.autoAssign, true);
  const bad = parsePoolConfig('- name: a\n  addresses: ["10.0.0.9-10.0.0.1", "x/33"]\n- addresses: []\n- name: a\n  addresses: ["::1-10.0.0.1"]');
  assert.deepEqual(bad.errors, [
    'pools[0].addresses: IP range "10.0.0.9-10.0.0.1" ends before it starts',
    'pools[0].addresses: invalid CIDR "x/33"',
    'pools[1].name: required',
    'pools[2].name: duplicate pool "a"',
    'pools[2].addresses: IP range "::1-10.0.0.1" mixes IPv4 and IPv6',
  ]);
  assert.match(parsePoolConfig('{').errors[0] ?? '', /^cannot parse "pools"/);
});

test('loadbalancer: avoidBuggyIPs and selectors', () => {
  const text = '- name: edge\n  avoidBuggyIPs: true\n  serviceSelector: {matchLabels: {tier: edge}}\n  addresses: ["10.1.0.255-10.1.1.1"]';
  assert.deepEqual(outcome([cm(text), svc('web', { labels: { tier: 'edge' } })], 'default/web').ips, ['10.1.1.1']);
  assert.deepEqual(outcome([cm(text), svc('web')], 'default/web').events,
    ['Warning AllocationFailed: Failed to allocate IP for "default/web": no address pool matches this service']);
});
