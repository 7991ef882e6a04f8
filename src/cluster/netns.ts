// The embedded cluster's nodes, for real (root, Linux): the LAN and node
// namespaces, a node agent and a proxy per node, cluster DNS and the API
// server's relay inside the first node, and LoadBalancer announcement.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { findResource } from '../api/resources.js';
import type { Client, KObject } from '../client/types.js';
import { InformerFactory } from '../client/informer.js';
import type { ApiServer } from '../apiserver/server.js';
import { createTopology, destroyTopology, type Topology } from '../node/topology.js';
import { startNodeAgent, type NodeAgent } from '../node/agent.js';
import { IpNetns, runCommand } from '../node/netns.js';
import { podNetnsName } from '../node/names.js';
import { cidrContains, parseCidr4 } from '../node/ipv4.js';
import { serviceRangeIP } from '../apiserver/bootstrap.js';
import { startProxy, type RunningProxy } from '../proxy/runtime/proxy.js';
import { logger } from '../log.js';
import { announcementDiff, announcements } from './announcer.js';
import { relayDialer, startHelper, type Helper } from './helpers.js';
import type { Progress } from './progress.js';
import { servePodLogs } from './logs.js';

export interface NetnsClusterOptions {
  api: ApiServer;
  client: Client;
  dataDir: string;
  prefix: string;
  nodes: string[];
  mode: 'nftables' | 'iptables';
  serviceClusterIPRange: string;
  clusterCIDR: string;
  lbPool: string;
  progress: Progress;
}

export interface NetnsCluster {
  topology: Topology;
  agents: NodeAgent[];
  proxies: RunningProxy[];
  dnsIP: string;
  lbPool: string;
  /**
   * Stops a node's proxy and starts a new one with the same options (kube-proxy
   * restarting): rules and conntrack stay in force in between; resolves after the new
   * proxy's first (full) sync. `proxies` holds the new one afterwards.
   */
  restartProxy(nodeName: string): Promise<RunningProxy>;
  close(): Promise<void>;
}

const R = (group: string, plural: string) => findResource(group, 'v1', plural)!;

async function ensure(client: Client, r: ReturnType<typeof R>, ns: string | undefined, obj: KObject): Promise<void> {
  // Look first: creating a Service that a previous run left (same data dir) fails on its
  // ClusterIP ("provided IP is already allocated", 422), as in Kubernetes, before the name's 409.
  try {
    await client.get(r, ns, obj.metadata!.name!);
    return;
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
  }
  try {
    await client.create(r, ns, obj);
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
}

export async function startNetnsCluster(o: NetnsClusterOptions): Promise<NetnsCluster> {
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      try { await c(); } catch (e) { logger.warn('cleanup step failed', { err: String(e) }); }
    }
  };
  const netns = new IpNetns();
  try {
    const topology = await o.progress.step(`network (${o.nodes.length} nodes, LAN, client)`,
      () => createTopology({ prefix: o.prefix, nodes: o.nodes, clusterCIDR: o.clusterCIDR, netns }),
      (t) => `LAN ${t.lan.cidr}`);
    closers.push(() => destroyTopology(o.prefix, { netns }).then(() => undefined));
    const first = topology.nodes[0]!;
    const dnsIP = serviceRangeIP(o.serviceClusterIPRange, 10);

    // The API server reaches pod IPs through a relay in the first node.
    const relaySock = join(o.dataDir, 'relay.sock');
    const relay = await startHelper(first.netns, ['relay', relaySock]);
    closers.push(() => relay.close());
    o.api.dialer = relayDialer(relaySock);

    // Cluster DNS in the first node, behind the kube-dns Service at the 10th IP.
    const dns = await o.progress.step('cluster DNS', async () => {
      const h = await startHelper(first.netns, ['dns', first.lanIP, '53']);
      await ensure(o.client, R('', 'services'), 'kube-system', {
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
        spec: { clusterIP: dnsIP, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] },
      });
      await o.client.delete(R('discovery.k8s.io', 'endpointslices'), 'kube-system', 'kube-dns-svcnet').catch(() => undefined);
      await o.client.create(R('discovery.k8s.io', 'endpointslices'), 'kube-system', {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: 'kube-dns-svcnet', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'svcnet-up' } },
        addressType: 'IPv4',
        ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }],
        endpoints: [{ addresses: [first.lanIP], conditions: { ready: true, serving: true, terminating: false }, nodeName: first.name }],
      });
      return h;
    }, () => `${dnsIP} → ${first.lanIP}:53`);
    closers.push(() => dns.close());
    const pump = startDnsPump(o.client, dns);
    closers.push(() => pump.close());

    // The LoadBalancer pool on the LAN, unless the user configured one.
    await ensure(o.client, R('', 'configmaps'), 'kube-system', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'svcnet-lb-pools', namespace: 'kube-system' },
      data: { pools: `- name: lan\n  addresses: ["${o.lbPool}"]\n` },
    });

    const agents: NodeAgent[] = [];
    const proxies: RunningProxy[] = [];
    await o.progress.step(`node agents and ${o.mode} proxies`, async () => {
      for (const n of topology.nodes) {
        const dataDir = join(o.dataDir, 'nodes', n.name);
        mkdirSync(dataDir, { recursive: true });
        const agent = await startNodeAgent({
          client: o.client, nodeName: n.name, prefix: o.prefix, dataDir, nodeNetns: n.netns, lanIP: n.lanIP, podCIDR: n.podCIDR, dnsIP, netns,
        });
        agents.push(agent);
        closers.push(() => agent.close({ stopPods: true }));
        const proxy = await startProxy({
          client: o.client, nodeName: n.name, mode: o.mode, netns: n.netns, minSyncPeriodMs: 50,
          metricsAddress: '', clusterCIDR: o.clusterCIDR, serviceCIDRs: o.serviceClusterIPRange.split(','), nodeIPs: [n.lanIP],
        });
        proxies.push(proxy);
        closers.push(() => proxy.close());
      }
    }, () => topology.nodes.map((n) => `${n.name}=${n.lanIP}`).join(' '));

    servePodLogs(o.api);
    const lan = parseCidr4(topology.lan.cidr);
    const announcer = startAnnouncer(o.client, topology, netns, (ip) => cidrContains(lan, ip));
    closers.push(() => announcer.close());
    return { topology, agents, proxies, dnsIP, lbPool: o.lbPool, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Feeds the DNS helper a snapshot of Services, EndpointSlices and Namespaces whenever they change. */
function startDnsPump(client: Client, dns: Helper): { close(): void } {
  const f = new InformerFactory(client);
  const svcs = f.informer(R('', 'services'));
  const slices = f.informer(R('discovery.k8s.io', 'endpointslices'));
  const nss = f.informer(R('', 'namespaces'));
  let timer: NodeJS.Timeout | undefined;
  const push = () => {
    timer = undefined;
    const snap = { services: svcs.store.list(), endpointSlices: slices.store.list(), namespaces: nss.store.list().map((n) => n.metadata?.name ?? '') };
    dns.child.stdin?.write(JSON.stringify(snap) + '\n');
  };
  const schedule = () => { if (!timer) timer = setTimeout(push, 20); };
  for (const inf of [svcs, slices, nss]) inf.addEventHandler({ onAdd: schedule, onUpdate: schedule, onDelete: schedule });
  f.start();
  return { close() { if (timer) clearTimeout(timer); f.close(); } };
}

/** Keeps each LoadBalancer IP on exactly one Ready node's LAN leg. */
function startAnnouncer(client: Client, t: Topology, netns: IpNetns, inLan: (ip: string) => boolean): { close(): Promise<void> } {
  const f = new InformerFactory(client);
  const svcs = f.informer<Service & KObject>(R('', 'services'));
  const nodes = f.informer<Node & KObject>(R('', 'nodes'));
  const have = new Map<string, Set<string>>();
  let running: Promise<void> = Promise.resolve();
  let dirty = false;
  let closed = false;
  const sync = async () => {
    dirty = false;
    const want = announcements(svcs.store.list(), nodes.store.list(), inLan);
    for (const step of announcementDiff(want, have)) {
      const node = t.nodes.find((n) => n.name === step.node);
      if (!node) continue;
      const set = have.get(step.node) ?? new Set<string>();
      for (const ip of step.del) {
        await netns.exec(node.netns, ['ip', 'addr', 'del', `${ip}/32`, 'dev', 'eth0']).catch(() => undefined);
        set.delete(ip);
      }
      for (const ip of step.add) {
        const r = await netns.exec(node.netns, ['ip', 'addr', 'replace', `${ip}/32`, 'dev', 'eth0']);
        if (r.code === 0) {
          set.add(ip);
          // Gratuitous ARP so neighbours forget the old announcer at once (best effort: arping may be absent).
          await runCommand('ip', ['netns', 'exec', node.netns, 'arping', '-c', '1', '-U', '-I', 'eth0', ip]).catch(() => undefined);
        }
      }
      have.set(step.node, set);
    }
  };
  const kick = () => {
    if (closed || dirty) return;
    dirty = true;
    running = running.then(sync).catch((e) => logger.warn('LoadBalancer announcement failed', { err: String(e) }));
  };
  for (const inf of [svcs, nodes]) inf.addEventHandler({ onAdd: kick, onUpdate: kick, onDelete: kick });
  f.start();
  return { async close() { closed = true; f.close(); await running; } };
}

export { podNetnsName };
