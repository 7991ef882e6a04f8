import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../client/types.js';
import { FakeCache, res } from '../testing/fakecache.js';
import { configMap, service, type ServiceOpts } from '../testing/builders.js';
import type { Plan } from '../types.js';
import { loadBalancerController } from './loadbalancer.js';
import { parsePoolConfig } from './pools.js';

const NOW = new Date('2024-01-01T01:00:00Z');
// The controller keeps its decisions in flight between reconciles: cases that stand alone get a fresh one.
const fresh = () => loadBalancerController();

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
  /** The ingress IPs written for the key's service, or null when its status is not written. */
  ips: string[] | null;
  /** The events about the key's service. */
  events: string[];
}

function outcome(objs: KObject[], key: string, lb = fresh()): Outcome {
  const plan = lb.reconcile(key, new FakeCache(objs), NOW);
  const patch = plan.actions.find((a) => a.verb === 'patch' && a.subresource === 'status' && `${a.namespace}/${a.name}` === key);
  let ips: string[] | null = null;
  if (patch?.verb === 'patch') {
    const ingress = (patch.patch as { status: { loadBalancer: { ingress: { ip: string; ipMode: string }[] | null } } }).status.loadBalancer.ingress;
    ips = (ingress ?? []).map((i) => { assert.equal(i.ipMode, 'VIP'); return i.ip; });
  }
  const mine = (plan.events ?? []).filter((e) => `${e.involvedObject.namespace}/${e.involvedObject.name}` === key);
  return { ips, events: mine.map((e) => `${e.type} ${e.reason}: ${e.message}`) };
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
  const plan = fresh().reconcile('*', c, NOW);
  assert.deepEqual(plan.actions.map((a) => a.verb === 'patch' && `${a.name}/${a.subresource}`), ['b/status']);
  const bad = fresh().reconcile('*', new FakeCache([cm('- name: x\n  addresses: ["10.0.0.0/24"]\n- name: y\n  addresses: ["10.0.0.5"]'), svc('b')]), NOW);
  assert.deepEqual(bad.actions, []);
  assert.equal(bad.events?.length, 1);
  assert.equal(bad.events?.[0]?.involvedObject.kind, 'ConfigMap');
  assert.match(bad.events?.[0]?.message ?? '', /overlap/);
});

test('loadbalancer: any key settles every service; its own service is written first', () => {
  const c = new FakeCache([cm(), svc('a'), svc('b'), svc('web')]);
  const plan = fresh().reconcile('default/web', c, NOW);
  assert.deepEqual(plan.actions.map((a) => a.verb === 'patch' && a.name), ['web', 'a', 'b']);
  c.apply(plan, NOW);
  assert.deepEqual(['a', 'b', 'web'].map((n) => ips(c, n)), [['192.168.0.200'], ['192.168.0.201'], ['192.168.0.202']]);
});

test('loadbalancer: deleting a service frees its address for a pending one', () => {
  const lb = fresh();
  const c = new FakeCache([cm('- name: one\n  addresses: ["192.168.5.5"]'), svc('a', { ingress: ['192.168.5.5'] }), svc('b')]);
  assert.deepEqual(lb.reconcile('default/b', c, NOW).actions, []);
  const gone = c.get(res('services'), 'default', 'a')!;
  c.remove(res('services'), 'default', 'a');
  assert.deepEqual(lb.keysFor(res('services'), gone), ['default/a']);
  const plan = lb.reconcile('default/a', c, NOW);
  c.apply(plan, NOW);
  assert.deepEqual(ips(c, 'b'), ['192.168.5.5']);
  // Converged: this controller, and a restarted one (same cache), allocate nothing twice.
  for (const ctl of [lb, fresh()]) {
    assert.deepEqual(ctl.reconcile('*', c, NOW).actions, []);
    assert.deepEqual(ctl.reconcile('default/b', c, NOW).actions, []);
  }
});

test('loadbalancer: keys', () => {
  const lb = fresh();
  assert.deepEqual(lb.keysFor(res('configmaps'), cm()), ['*']);
  assert.deepEqual(lb.keysFor(res('configmaps'), configMap('other', 'kube-system', {})), []);
  assert.deepEqual(lb.keysFor(res('services'), svc('web')), ['default/web']);
});

// ---------------------------------------------------------------------------
// Interleavings: plans are decided against a cache that does not yet show the
// writes of earlier plans (a second worker, or an informer that lags), then
// applied. The invariant: no address is ever held by two services that may
// not share it, at any point.

function ips(c: FakeCache, name: string): string[] {
  const s = c.get(res('services'), 'default', name) as { status?: { loadBalancer?: { ingress?: { ip: string }[] } } } | undefined;
  return (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
}

/** Addresses held by more than one service that may not share them. */
function doubles(c: FakeCache): string[] {
  const by = new Map<string, { name: string; key?: string; ports: string[] }[]>();
  for (const s of c.list(res('services')) as { metadata: { name: string; annotations?: Record<string, string> }; spec: { ports: { port: number; protocol: string }[] }; status?: { loadBalancer?: { ingress?: { ip: string }[] } } }[]) {
    for (const i of s.status?.loadBalancer?.ingress ?? []) {
      const l = by.get(i.ip) ?? [];
      l.push({ name: s.metadata.name, key: s.metadata.annotations?.['svcnet.io/allow-shared-ip'], ports: s.spec.ports.map((p) => `${p.protocol}/${p.port}`) });
      by.set(i.ip, l);
    }
  }
  const out: string[] = [];
  for (const [ip, hs] of by) {
    for (let i = 0; i < hs.length; i++) {
      for (let j = i + 1; j < hs.length; j++) {
        const [a, b] = [hs[i]!, hs[j]!];
        if (!a.key || a.key !== b.key || a.ports.some((p) => b.ports.includes(p))) out.push(`${ip}: ${a.name} and ${b.name}`);
      }
    }
  }
  return out;
}

/** Replaces a service in the cache as a user's write would (new resourceVersion). */
function edit(c: FakeCache, name: string, f: (s: KObject) => void): void {
  const s = structuredClone(c.get(res('services'), 'default', name)!);
  f(s);
  delete (s.metadata as { resourceVersion?: string }).resourceVersion;
  c.add(s);
}

function applyChecked(c: FakeCache, plan: Plan): void {
  c.apply(plan, NOW);
  assert.deepEqual(doubles(c), []);
}

const ONE = '- name: one\n  addresses: ["192.168.5.5"]';
const TWO = '- name: two\n  addresses: ["192.168.5.5-192.168.5.6"]';

test('loadbalancer: an older service that stops failing does not take the address a younger one is being given', () => {
  // a (older) asks for an address outside every pool and stays pending; b takes the only address.
  // Before b's write is seen, a drops its request. Replaying the cache alone gives the older a the
  // same address: two services hold it, and (the runner skipping its own echoes) nothing fixes it.
  const lb = fresh();
  const c = new FakeCache([cm(ONE), svc('a', { loadBalancerIP: '10.9.9.9', created: '2024-01-01T00:00:00Z' }), svc('b', { created: '2024-01-01T00:00:05Z' })]);
  const pb = lb.reconcile('default/b', c, NOW);
  assert.deepEqual(pb.actions.map((a) => a.verb === 'patch' && a.name), ['b']);
  edit(c, 'a', (s) => { delete (s['spec'] as { loadBalancerIP?: string }).loadBalancerIP; });
  const pa = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(pa.actions, [], 'a must not be given the address b is being given');
  assert.deepEqual((pa.events ?? []).map((e) => e.message), ['Failed to allocate IP for "default/a": no available IPs in pool "one"']);
  applyChecked(c, pb);
  applyChecked(c, pa);
  assert.deepEqual([ips(c, 'a'), ips(c, 'b')], [[], ['192.168.5.5']]);
  assert.deepEqual(lb.reconcile('*', c, NOW).actions, []);
});

test('loadbalancer: two services created in the same second, reconciled before either write is seen', () => {
  // creationTimestamp has whole seconds: z is created first but sorts after a.
  for (const pools of [ONE, TWO]) {
    const lb = fresh();
    const c = new FakeCache([cm(pools), svc('z')]);
    const pz = lb.reconcile('default/z', c, NOW);
    c.add(svc('a'));
    const pa = lb.reconcile('default/a', c, NOW);
    applyChecked(c, pz);
    applyChecked(c, pa);
    assert.deepEqual(ips(c, 'z'), ['192.168.5.5']);
    assert.deepEqual(ips(c, 'a'), pools === ONE ? [] : ['192.168.5.6']);
    assert.deepEqual(lb.reconcile('*', c, NOW).actions, []);
  }
});

test('loadbalancer: concurrent reconciles from one stale cache write each status once', () => {
  const lb = fresh();
  const c = new FakeCache([cm(), svc('a', { created: '2024-01-01T00:00:01Z' }), svc('b', { created: '2024-01-01T00:00:02Z' })]);
  const pa = outcome(c.list(res('services')).concat(c.list(res('configmaps'))), 'default/a', lb);
  // b's status is already being written by a's plan: b's own key leaves it to that write.
  const pb = outcome(c.list(res('services')).concat(c.list(res('configmaps'))), 'default/b', lb);
  assert.deepEqual([pa.ips, pb.ips], [['192.168.0.200'], null]);
  const plan = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(plan.actions.map((a) => a.verb === 'patch' && a.name), ['a', 'b']);
  assert.deepEqual(lb.reconcile('default/b', c, NOW).actions, []);
  applyChecked(c, plan);
  assert.deepEqual([ips(c, 'a'), ips(c, 'b')], [['192.168.0.200'], ['192.168.0.201']]);
});

test('loadbalancer: a released address goes to a waiting service only once the release is seen', () => {
  const lb = fresh();
  const c = new FakeCache([cm(ONE), svc('a', { ingress: ['192.168.5.5'] }), svc('b', { loadBalancerIP: '192.168.5.5' })]);
  edit(c, 'a', (s) => { (s['spec'] as { type: string }).type = 'ClusterIP'; });
  const p1 = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(p1.actions.map((a) => a.verb === 'patch' && a.name), ['a'], 'the release alone');
  assert.equal(p1.requeueAfterMs, 0, 'run again once the release is visible');
  // b's own key, before the release is seen, hears why it waits.
  const pb = lb.reconcile('default/b', c, NOW);
  assert.deepEqual(pb.actions, []);
  assert.deepEqual((pb.events ?? []).map((e) => e.message), ['Failed to allocate IP for "default/b": requested IP 192.168.5.5 is still held by default/a']);
  applyChecked(c, p1);
  const p2 = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(p2.actions.map((a) => a.verb === 'patch' && a.name), ['b']);
  assert.equal(p2.requeueAfterMs, undefined);
  applyChecked(c, p2);
  assert.deepEqual(ips(c, 'b'), ['192.168.5.5']);
});

test('loadbalancer: a write that failed on a conflict frees what it reserved; one that failed otherwise is written again by its key', () => {
  const lb = fresh();
  const c = new FakeCache([cm(ONE), svc('a', { created: '2024-01-01T00:00:05Z' }), svc('b', { created: '2024-01-01T00:00:09Z' })]);
  // a's plan gives a the address; the write fails (a server error): the table still reserves it.
  const p1 = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(p1.actions.map((x) => x.verb === 'patch' && x.name), ['a']);
  assert.deepEqual(lb.reconcile('default/b', c, NOW).actions, [], 'b waits: the address may be a\'s');
  // The runner requeues a's key: its plan writes again (it is not "in flight" for its own key).
  const p2 = lb.reconcile('default/a', c, NOW);
  assert.deepEqual(p2.actions.map((x) => x.verb === 'patch' && x.name), ['a']);
  // a changes meanwhile: the write pinned to the old resourceVersion fails, the cache moved on, the address is free again.
  edit(c, 'a', (s) => { (s['spec'] as { type: string }).type = 'ClusterIP'; });
  assert.match(String(c.apply(p2, NOW).errors[0]?.error), /modified/);
  const p3 = lb.reconcile('default/b', c, NOW);
  assert.deepEqual(p3.actions.map((x) => x.verb === 'patch' && x.name), ['b']);
  applyChecked(c, p3);
  assert.deepEqual([ips(c, 'a'), ips(c, 'b')], [[], ['192.168.5.5']]);
});

test('loadbalancer: a service deleted while its write is in flight frees the address', () => {
  const lb = fresh();
  const c = new FakeCache([cm(ONE), svc('a')]);
  assert.equal(lb.reconcile('default/a', c, NOW).actions.length, 1);
  c.remove(res('services'), 'default', 'a');
  c.add(svc('b'));
  const p = lb.reconcile('default/a', c, NOW);
  applyChecked(c, p);
  assert.deepEqual(ips(c, 'b'), ['192.168.5.5']);
});

test('loadbalancer: a requested address being given to another service is refused with an event', () => {
  const lb = fresh();
  const c = new FakeCache([cm(ONE), svc('a')]);
  const pa = lb.reconcile('default/a', c, NOW);
  c.add(svc('b', { loadBalancerIP: '192.168.5.5', created: '2024-01-01T00:00:09Z' }));
  const pb = lb.reconcile('default/b', c, NOW);
  assert.deepEqual(pb.actions, []);
  assert.deepEqual((pb.events ?? []).map((e) => `${e.type} ${e.reason}: ${e.message}`),
    ['Warning AllocationFailed: Failed to allocate IP for "default/b": requested IP 192.168.5.5 is already in use by default/a (neither service allows sharing)']);
  applyChecked(c, pa);
  applyChecked(c, pb);
});

test('loadbalancer: sharing a key with a service whose write is in flight', () => {
  const lb = fresh();
  const share = { 'svcnet.io/allow-shared-ip': 'k' };
  const c = new FakeCache([cm(ONE), svc('a', { annotations: share, ports: [{ port: 80 }] })]);
  const pa = lb.reconcile('default/a', c, NOW);
  c.add(svc('b', { annotations: share, ports: [{ port: 443 }], created: '2024-01-01T00:00:09Z' }));
  c.add(svc('c', { annotations: share, ports: [{ port: 80 }], created: '2024-01-01T00:00:10Z' }));
  const pb = lb.reconcile('default/b', c, NOW);
  assert.deepEqual(pb.actions.map((x) => x.verb === 'patch' && x.name), ['b']);
  const pc = lb.reconcile('default/c', c, NOW);
  assert.deepEqual(pc.actions, []);
  assert.match(pc.events?.[0]?.message ?? '', /no available IPs in pool "one"/);
  for (const p of [pc, pb, pa]) applyChecked(c, p);
  assert.deepEqual(['a', 'b', 'c'].map((n) => ips(c, n)), [['192.168.5.5'], ['192.168.5.5'], []]);
});

test('loadbalancer: a restarted controller keeps every address held; an older pending service takes none of them', () => {
  const c = new FakeCache([cm(TWO),
    svc('a', { ingress: ['192.168.5.6'], created: '2024-01-01T00:00:01Z' }),
    svc('b', { ingress: ['192.168.5.5'], created: '2024-01-01T00:00:02Z' }),
    svc('c', { created: '2024-01-01T00:00:00Z' })]);
  const lb = fresh();
  const p = lb.reconcile('default/c', c, NOW);
  assert.deepEqual(p.actions, [], 'the oldest, pending service takes nothing held');
  assert.match(p.events?.[0]?.message ?? '', /no available IPs/);
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
