// The embedded cluster's nodes, for real (root, Linux): the LAN and node
// namespaces, a node agent and a proxy per node, cluster DNS and the API
// server's relay inside the first node, and LoadBalancer announcement.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { findResource } from '../api/resources.js';
import type { Client, KObject } from '../client/types.js';
import { InformerFactory } from '../client/informer.js';
import type { ApiServer } from '../apiserver/server.js';
import { createTopology, destroyTopology, LAN_LINK, type Topology } from '../node/topology.js';
import { startNodeAgent, type NodeAgent } from '../node/agent.js';
import { IpNetns, runCommand } from '../node/netns.js';
import { podNetnsName } from '../node/names.js';
import { cidrContains, cidrSize, nthAddress, parseCidr4 } from '../node/ipv4.js';
import { serviceRangeIP } from '../apiserver/bootstrap.js';
import { startProxy, type RunningProxy, type StartProxyOptions } from '../proxy/runtime/proxy.js';
import type { ProxySnapshot } from '../proxy/snapshot.js';
import { createInterface } from 'node:readline';
import type { IptablesVariant } from '../proxy/runtime/apply.js';
import { NetnsListenerFactory } from '../proxy/runtime/netns.js';
import { logger } from '../log.js';
import { announcementDiff, announcements } from './announcer.js';
import { relayDialer, startHelper, type Helper } from './helpers.js';
import type { Progress } from './progress.js';
import { serveNodeSubresources } from './kubelet-proxy.js';
import { replaceProxyHelper, TAKEOVER_ENV } from './proxy-handover.js';
import type { ChildProcess } from 'node:child_process';

export interface NetnsClusterOptions {
  api: ApiServer;
  /** The API server's admin token: what a standalone agent's kubelet endpoint is reached with (kubelet-proxy.ts). */
  adminToken?: string;
  client: Client;
  dataDir: string;
  prefix: string;
  nodes: string[];
  /** userspace: each node's proxy is a process in the node's namespace binding service addresses itself. */
  mode: 'nftables' | 'iptables' | 'userspace';
  /** userspace mode: the node proxies reach the API server at this unix socket (plain HTTP), with the kubeconfig's token. */
  apiSocket?: string;
  kubeconfigPath?: string;
  /** iptables mode: iptables-nft or iptables-legacy (default: the system's `iptables`). */
  iptablesVariant?: IptablesVariant;
  serviceClusterIPRange: string;
  clusterCIDR: string;
  lbPool: string;
  progress: Progress;
  /**
   * The network, when the caller started createTopology already (`up` builds it while
   * the API server starts); it is ours to destroy once it resolves.
   */
  topology?: Promise<Topology>;
}

/** userspace mode: a node's proxy, a process of its own in the node's namespace (helper-child.ts `proxy`). */
export interface ProxyProcess {
  readonly nodeName: string;
  readonly pid: number;
  /** What the process has in force: its last snapshot, its listener table, how many syncs it made. */
  state(timeoutMs?: number): Promise<{ snapshot: ProxySnapshot | undefined; rules: string; syncs: number }>;
  /** The process has exited (its exit code, or the signal that ended it). */
  readonly exited: Promise<number | string>;
}

export interface NetnsCluster {
  topology: Topology;
  agents: NodeAgent[];
  /** The kernel modes' proxies (this process); empty in userspace mode. */
  proxies: RunningProxy[];
  /** userspace mode: each node's proxy process; empty in the kernel modes. */
  proxyProcesses: ProxyProcess[];
  dnsIP: string;
  lbPool: string;
  /**
   * Stops a node's proxy and starts a new one with the same options (kube-proxy
   * restarting). Kernel modes: rules and conntrack stay in force in between; resolves
   * after the new proxy's first (full) sync; `proxies` holds the new one afterwards.
   * userspace: the new process starts first, with the old one's listening sockets
   * (proxy-handover.ts), and serves them after its first sync; then the old one is
   * stopped gracefully (SIGTERM: it lets go of the sockets and keeps relaying the
   * connections already open until they end), and this resolves; no new connection is
   * refused meanwhile. `proxyProcesses` holds the new one. The old one exits by itself
   * once drained; the cluster's close ends it in any case.
   */
  restartProxy(nodeName: string): Promise<RunningProxy | ProxyProcess>;
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
  const tasks: Promise<unknown>[] = [];
  try {
    const topology = await (o.topology ?? o.progress.step(`network (${o.nodes.length} nodes, LAN, client)`,
      () => createTopology({ prefix: o.prefix, nodes: o.nodes, clusterCIDR: o.clusterCIDR, netns }),
      (t) => `LAN ${t.lan.cidr}`));
    closers.push(() => destroyTopology(o.prefix, { netns }).then(() => undefined));
    const first = topology.nodes[0]!;
    const dnsIP = serviceRangeIP(o.serviceClusterIPRange, 10);
    // Informers shared by the DNS pump, the announcer and the node proxies.
    const informers = new InformerFactory(o.client);
    closers.push(() => informers.close());

    // What follows is independent, so it all starts at once: one helper process in the
    // first node (the API server's relay to pod IPs, and cluster DNS behind the kube-dns
    // Service at the 10th IP), the objects that publish DNS and the LoadBalancer pool,
    // and every node's agent and proxy. `tasks` settles before any failure is thrown, so
    // nothing still starting can escape the cleanup.
    const relaySock = join(o.dataDir, 'relay.sock');
    tasks.push(o.progress.step('cluster DNS and API relay', async () => {
      const h = await startHelper(first.netns, ['relay', relaySock, 'dns', first.lanIP, '53']);
      closers.push(() => h.close());
      o.api.dialer = relayDialer(relaySock);
      const pump = startDnsPump(informers, h);
      closers.push(() => pump.close());
      return h;
    }, () => `${dnsIP} → ${first.lanIP}:53`));
    tasks.push((async () => {
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
    })());
    // The LoadBalancer pool on the LAN, unless the user configured one.
    tasks.push(ensure(o.client, R('', 'configmaps'), 'kube-system', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'svcnet-lb-pools', namespace: 'kube-system' },
      data: { pools: `- name: lan\n  addresses: ["${o.lbPool}"]\n` },
    }));

    // Userspace mode: each node's proxy is a process in the node's namespace that reaches
    // the API server through its unix socket (paths are shared across network namespaces);
    // service addresses are local on every node so the proxy can bind them, and a service
    // port with no listener is refused by the kernel.
    const userspaceProxies: UserspaceProxyProcess[] = [];
    if (o.mode === 'userspace' && (!o.apiSocket || !o.kubeconfigPath)) throw new Error('userspace mode needs the API server\'s unix socket (data dir path too long?)');
    const startUserspaceProxy = async (n: Topology['nodes'][number], restart = false, onSpawn?: (child: ChildProcess) => void): Promise<UserspaceProxyProcess> => {
      if (!restart) {
        await netns.sysctl(n.netns, 'net.ipv4.ip_nonlocal_bind', '1');
        for (const cidr of o.serviceClusterIPRange.split(',')) {
          if (!cidr.includes(':')) await netns.exec(n.netns, ['ip', 'route', 'replace', 'local', cidr, 'dev', 'lo']);
        }
      }
      // An IPC channel: a restart hands the listening sockets from the old process to the new.
      const h = await startHelper(n.netns, ['proxy', n.name, n.lanIP, o.apiSocket!, o.kubeconfigPath!, o.clusterCIDR], 20_000,
        { ipc: true, ...(restart ? { env: { ...process.env, [TAKEOVER_ENV]: '1' } } : {}), ...(onSpawn ? { onSpawn } : {}) });
      closers.push(() => h.close());
      return new UserspaceProxyProcess(n.name, h);
    };
    const agents: NodeAgent[] = [];
    const proxies: RunningProxy[] = [];
    const proxyOptions: StartProxyOptions[] = [];
    const startAgent = async (n: Topology['nodes'][number], idx: number): Promise<void> => {
      const dataDir = join(o.dataDir, 'nodes', n.name);
      mkdirSync(dataDir, { recursive: true });
      const agent = await startNodeAgent({
        client: o.client, nodeName: n.name, prefix: o.prefix, dataDir, nodeNetns: n.netns, lanIP: n.lanIP, podCIDR: n.podCIDR, dnsIP, netns,
        // createTopology put the pod gateway on lo and turned forwarding on already.
        configureNodeNetns: false,
      });
      agents[idx] = agent;
      closers.push(() => agent.close({ stopPods: true }));
    };
    const startNodeProxy = async (n: Topology['nodes'][number], idx: number): Promise<void> => {
      if (o.mode === 'userspace') {
        userspaceProxies[idx] = await startUserspaceProxy(n);
        return;
      }
      const proxyOpts: StartProxyOptions = {
        client: o.client, nodeName: n.name, mode: o.mode, netns: n.netns, minSyncPeriodMs: 50, informerFactory: informers,
        // The node's namespace is new (createTopology made it): no other proxy mode's rules to clean.
        cleanupOtherMode: false,
        metricsAddress: '', clusterCIDR: o.clusterCIDR, serviceCIDRs: o.serviceClusterIPRange.split(','), nodeIPs: [n.lanIP],
        ...(o.iptablesVariant ? { iptablesVariant: o.iptablesVariant } : {}),
      };
      // healthCheckNodePort servers listen inside the node's namespace (a fresh factory per
      // start: closing a proxy closes its factory).
      const proxy = await startProxy({ ...proxyOpts, healthCheckListeners: new NetnsListenerFactory({ netns: n.netns }) });
      proxies[idx] = proxy;
      proxyOptions[idx] = proxyOpts;
      closers.push(() => proxies[idx]!.close());
    };
    // A node's agent and proxy do not wait for each other: the proxy takes the node's IP
    // from its options until the agent has registered the Node.
    tasks.push(o.progress.step(`node agents and ${o.mode} proxies`,
      () => settleAll(topology.nodes.flatMap((n, idx) => [startAgent(n, idx), startNodeProxy(n, idx)])),
      () => topology.nodes.map((n) => `${n.name}=${n.lanIP}`).join(' ')));
    await settleAll(tasks);

    // kubectl logs/exec/attach/port-forward: this process's agents, or the kubelet
    // endpoint of a standalone `svcnet agent` that joined the cluster.
    const streaming = serveNodeSubresources(o.api, o.adminToken !== undefined ? { adminToken: o.adminToken } : {});
    closers.push(() => streaming.close());
    const lan = parseCidr4(topology.lan.cidr);
    const announcer = startAnnouncer(informers, topology, netns, (ip) => cidrContains(lan, ip));
    closers.push(() => announcer.close());
    const restartProxy = async (nodeName: string): Promise<RunningProxy | ProxyProcess> => {
      const i = topology.nodes.findIndex((n) => n.name === nodeName);
      if (o.mode === 'userspace') {
        const old = userspaceProxies[i];
        if (i < 0 || !old) throw new Error(`no proxy on node "${nodeName}"`);
        // HAProxy's seamless reload (proxy-handover.ts): the new process starts first with
        // the old one's listening sockets and serves them; then the old one gets SIGTERM,
        // lets go of its copies and drains. No new connection is refused meanwhile.
        const next = await replaceProxyHelper(old.helper.child, (onSpawn) => startUserspaceProxy(topology.nodes[i]!, true, onSpawn),
          () => old.stopGracefully(10_000), (msg, fields) => logger.info(`${nodeName} proxy restart: ${msg}`, fields));
        userspaceProxies[i] = next;
        return next;
      }
      if (i < 0 || !proxies[i]) throw new Error(`no proxy on node "${nodeName}"`);
      await proxies[i].close();
      proxies[i] = await startProxy({ ...proxyOptions[i]!, healthCheckListeners: new NetnsListenerFactory({ netns: proxyOptions[i]!.netns! }) });
      return proxies[i];
    };
    return { topology, agents, proxies, proxyProcesses: userspaceProxies, dnsIP, lbPool: o.lbPool, restartProxy, close: closeAll };
  } catch (e) {
    await Promise.allSettled(tasks);
    await closeAll();
    throw e;
  }
}

/** A userspace proxy process: asks it for its state over stdin/stdout, stops it gracefully. */
class UserspaceProxyProcess implements ProxyProcess {
  readonly pid: number;
  readonly exited: Promise<number | string>;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Record<string, unknown>) => void>();
  private drainingSeen: (() => void) | undefined;
  private drainingLine = false;

  constructor(readonly nodeName: string, readonly helper: Helper) {
    const child = helper.child;
    this.pid = child.pid!;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode!);
      else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'exited'));
    });
    void this.exited.then(() => {
      for (const r of this.pending.values()) r({ error: `proxy process on ${nodeName} exited` });
      this.pending.clear();
      this.drainingSeen?.();
    });
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('draining')) {
        this.drainingLine = true;
        this.drainingSeen?.();
        return;
      }
      let r: Record<string, unknown>;
      try { r = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      const cb = this.pending.get(Number(r['id']));
      if (cb) { this.pending.delete(Number(r['id'])); cb(r); }
    });
  }

  state(timeoutMs = 5000): Promise<{ snapshot: ProxySnapshot | undefined; rules: string; syncs: number }> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`proxy process on ${this.nodeName}: no answer`)); }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(t);
        if (r['error']) reject(new Error(String(r['error'])));
        else resolve({ snapshot: (r['snapshot'] ?? undefined) as ProxySnapshot | undefined, rules: String(r['rules']), syncs: Number(r['syncs']) });
      });
      this.helper.child.stdin!.write(JSON.stringify({ op: 'state', id }) + '\n');
    });
  }

  /** SIGTERM, then resolves once the process says it is draining (every port it held is free) or has exited. */
  stopGracefully(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.drainingLine) { resolve(); return; }
      const t = setTimeout(() => reject(new Error(`proxy process on ${this.nodeName} did not stop accepting within ${timeoutMs} ms`)), timeoutMs);
      this.drainingSeen = () => { clearTimeout(t); this.drainingSeen = undefined; resolve(); };
      if (this.helper.child.exitCode !== null || this.helper.child.signalCode !== null) this.drainingSeen();
      else this.helper.child.kill('SIGTERM');
    });
  }
}

/** Like Promise.all, but waits for every promise to settle before rejecting with the first failure. */
async function settleAll<T>(ps: readonly Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Feeds the DNS helper a snapshot of Services, EndpointSlices and Namespaces whenever they change. */
function startDnsPump(f: InformerFactory, dns: Helper): { close(): void } {
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
  const regs = [svcs, slices, nss].map((inf) => inf.addEventHandler({ onAdd: schedule, onUpdate: schedule, onDelete: schedule }));
  f.start();
  return { close() { if (timer) clearTimeout(timer); for (const r of regs) r.dispose(); } };
}

/**
 * Keeps each LoadBalancer IP on exactly one Ready node's LAN leg. When an IP moves
 * (its announcer went NotReady, or came back), the old node lets go of it first, and
 * the new one tells the LAN: a gratuitous ARP with arping when it is installed, else
 * a datagram sent from the LB IP to an unused LAN address, whose ARP request (sender:
 * the LB IP and the new node's MAC) updates every neighbour that still has the old
 * node's MAC for it — as a gratuitous ARP does.
 */
function startAnnouncer(f: InformerFactory, t: Topology, netns: IpNetns, inLan: (ip: string) => boolean): { close(): Promise<void> } {
  const svcs = f.informer<Service & KObject>(R('', 'services'));
  const nodes = f.informer<Node & KObject>(R('', 'nodes'));
  // Local-policy IPs go only to a node with a ready local endpoint (MetalLB's rule).
  const slices = f.informer<EndpointSlice & KObject>(R('discovery.k8s.io', 'endpointslices'));
  const have = new Map<string, Set<string>>();
  const lan = parseCidr4(t.lan.cidr);
  const unused = nthAddress(lan, cidrSize(lan) - 2);
  let running: Promise<void> = Promise.resolve();
  let dirty = false;
  let closed = false;
  const sync = async () => {
    dirty = false;
    const want = announcements(svcs.store.list(), nodes.store.list(), inLan, slices.store.list());
    const plan = announcementDiff(want, have).filter((step) => t.nodes.some((n) => n.name === step.node));
    const netnsOf = (node: string) => t.nodes.find((n) => n.name === node)!.netns;
    const moved = new Set(plan.flatMap((step) => step.del));
    for (const step of plan) {
      const set = have.get(step.node) ?? new Set<string>();
      for (const ip of step.del) {
        await netns.exec(netnsOf(step.node), ['ip', 'addr', 'del', `${ip}/32`, 'dev', LAN_LINK]).catch(() => undefined);
        set.delete(ip);
      }
      have.set(step.node, set);
    }
    for (const step of plan) {
      const set = have.get(step.node)!;
      for (const ip of step.add) {
        const r = await netns.exec(netnsOf(step.node), ['ip', 'addr', 'replace', `${ip}/32`, 'dev', LAN_LINK]);
        if (r.code !== 0) { logger.warn('LoadBalancer IP not announced', { ip, node: step.node, err: r.stderr.trim() }); continue; }
        set.add(ip);
        if (moved.has(ip)) await tellTheLan(netnsOf(step.node), ip);
      }
    }
  };
  const tellTheLan = async (ns: string, ip: string): Promise<void> => {
    const garp = await runCommand('ip', ['netns', 'exec', ns, 'arping', '-c', '1', '-U', '-I', LAN_LINK, ip]).catch(() => undefined);
    if (garp?.code === 0) return;
    const send = `const s=require('dgram').createSocket('udp4');s.on('error',()=>process.exit(0));s.bind(0,${JSON.stringify(ip)},()=>s.send('',9,${JSON.stringify(unused)},()=>setTimeout(()=>process.exit(0),20)))`;
    await netns.exec(ns, [process.execPath, '-e', send]).catch(() => undefined);
  };
  const kick = () => {
    if (closed || dirty) return;
    dirty = true;
    running = running.then(sync).catch((e) => logger.warn('LoadBalancer announcement failed', { err: String(e) }));
  };
  const regs = [svcs, nodes, slices].map((inf) => inf.addEventHandler({ onAdd: kick, onUpdate: kick, onDelete: kick }));
  f.start();
  return { async close() { closed = true; for (const r of regs) r.dispose(); await running; } };
}

export { podNetnsName };
