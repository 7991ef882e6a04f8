import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeNetns, renderIpBatch } from './netns.js';
import { createSandbox, destroySandbox, newPodRecord, type SandboxConfig } from './runtime.js';
import { createTopology, destroyTopology, planTopology, topologyOps } from './topology.js';
import { assertGolden } from './testdata/golden.js';

test('the topology plan: names, LAN addresses, podCIDRs, and the operations that build it', () => {
  const t = planTopology({ prefix: 'svcnet', nodes: ['node-1', 'node-2', 'node-3'] });
  assertGolden('topology-plan', { plan: t, ops: topologyOps(t) });
});

test('ip -batch lines use explicit `name` keywords and replace semantics', () => {
  assert.equal(renderIpBatch([
    { op: 'addVeth', name: 'eth0', peer: 'veth0123456789a', peerNetns: 'svcnet-node-n1' },
    { op: 'setAddr', link: 'eth0', cidr: '10.244.0.2/32' },
    { op: 'setUp', link: 'eth0' },
    { op: 'addRoute', dst: 'default', via: '10.244.0.1', dev: 'eth0', onlink: true },
    { op: 'addRoute', dst: '10.244.0.2/32', dev: 'veth0123456789a', src: '10.244.0.1' },
    { op: 'addBridge', name: 'br0' },
    { op: 'setMaster', link: 'p1', master: 'br0' },
    { op: 'delLink', link: 'p1' },
  ]), [
    'link add name eth0 type veth peer name veth0123456789a netns svcnet-node-n1',
    'addr replace 10.244.0.2/32 dev eth0',
    'link set dev eth0 up',
    'route replace default via 10.244.0.1 dev eth0 onlink',
    'route replace 10.244.0.2/32 dev veth0123456789a src 10.244.0.1',
    'link add name br0 type bridge',
    'link set dev p1 master br0',
    'link del dev p1',
    '',
  ].join('\n'));
});

function pod(name: string, uid: string, node: string): Pod {
  return { metadata: { name, namespace: 'default', uid }, spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx' }] } };
}

test('createTopology + sandboxes: packets go pod → node → node (host-gw) → pod; the client cannot reach pods', async () => {
  const k = new FakeNetns();
  const t = await createTopology({ prefix: 'svcnet', nodes: ['n1', 'n2', 'n3'], netns: k });
  assert.deepEqual(await k.listNamespaces(''), ['svcnet-client', 'svcnet-lan', 'svcnet-node-n1', 'svcnet-node-n2', 'svcnet-node-n3']);
  const [n1, , n3] = t.nodes as [typeof t.nodes[0], typeof t.nodes[0], typeof t.nodes[0]];
  assert.equal(k.namespaces.get(n1.netns)!.sysctls.get('net.ipv4.ip_forward'), '1');
  assert.deepEqual(k.trace(t.client.netns, n3.lanIP), { delivered: true, netns: n3.netns, hops: ['svcnet-client', 'svcnet-node-n3'] });
  assert.equal(k.trace(n1.netns, n3.podGateway).delivered, true);

  const cfg = (n: typeof n1): SandboxConfig => ({ prefix: 'svcnet', nodeNetns: n.netns, podCIDR: n.podCIDR, gateway: n.podGateway, dnsIP: '10.96.0.10', clusterDomain: 'cluster.local' });
  const a = newPodRecord('svcnet', n1.netns, pod('a', 'uid-a', 'n1'));
  a.podIP = '10.244.0.2';
  await createSandbox(k, cfg(n1), pod('a', 'uid-a', 'n1'), a);
  const b = newPodRecord('svcnet', n3.netns, pod('b', 'uid-b', 'n3'));
  b.podIP = '10.244.2.2';
  await createSandbox(k, cfg(n3), pod('b', 'uid-b', 'n3'), b);
  assert.deepEqual(k.trace(a.netns, '10.244.2.2'), { delivered: true, netns: b.netns, hops: [a.netns, n1.netns, n3.netns, b.netns] });
  assert.deepEqual(k.trace(b.netns, '10.244.0.2').delivered, true);
  // Same node: routed by the node too.
  const c = newPodRecord('svcnet', n1.netns, pod('c', 'uid-c', 'n1'));
  c.podIP = '10.244.0.3';
  await createSandbox(k, cfg(n1), pod('c', 'uid-c', 'n1'), c);
  assert.deepEqual(k.trace(c.netns, '10.244.0.2').hops, [c.netns, n1.netns, a.netns]);
  // The outside world has no route to pods (the LAN router does not forward).
  assert.equal(k.trace(t.client.netns, '10.244.0.2').delivered, false);
  assert.equal(k.namespaces.get(a.netns)!.etc.get('resolv.conf'),
    'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  assert.match(k.namespaces.get(a.netns)!.etc.get('hosts')!, /10\.244\.0\.2\ta\n$/);

  await destroySandbox(k, cfg(n1), a);
  assert.equal(await k.exists(a.netns), false);
  assert.equal(k.namespaces.get(n1.netns)!.links.has(a.veth!), false);
  assert.equal(k.trace(c.netns, '10.244.0.2').delivered, false);
});

test('destroyTopology removes exactly the namespaces of its prefix, and createTopology starts clean', async () => {
  const k = new FakeNetns();
  await createTopology({ prefix: 'svcnet', nodes: ['n1'], netns: k });
  await k.createNamespace('svcnet-pod-default-x-12345678');
  await k.createNamespace('svcnetx-lan');
  await k.createNamespace('other');
  k.strayEtcDirs.add('svcnet-pod-default-gone-87654321');
  // A second create (after a "crash") first removes the leftovers.
  await createTopology({ prefix: 'svcnet', nodes: ['n1', 'n2'], netns: k });
  assert.deepEqual(await k.listNamespaces(''), ['other', 'svcnet-client', 'svcnet-lan', 'svcnet-node-n1', 'svcnet-node-n2', 'svcnetx-lan']);
  assert.deepEqual(k.strayEtcDirs.size, 0);
  const r = await destroyTopology('svcnet', { netns: k });
  assert.deepEqual(r.removed.sort(), ['svcnet-client', 'svcnet-lan', 'svcnet-node-n1', 'svcnet-node-n2']);
  assert.deepEqual(await k.listNamespaces(''), ['other', 'svcnetx-lan']);
});
