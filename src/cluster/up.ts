// `svcnet up`: the whole cluster in one process — storage, API server,
// controllers — and tearing it all down. Nodes, proxies and DNS join as
// their components land (see the issue notes).
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join, resolve } from 'node:path';
import { startApiServer, type RunningApiServer } from '../apiserver/index.js';
import { uiHandler } from '../ui/server.js';
import { explainService } from '../proxy/explain.js';
import { HttpClient } from '../client/http.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { startControllerManager, type RunningControllerManager } from '../controllers/manager.js';
import { defaultReconcilers } from '../controllers/all.js';
import { progress } from './progress.js';
import { startNetnsCluster, type NetnsCluster, type NetnsClusterOptions } from './netns.js';
import { createTopology, destroyTopology, type Topology } from '../node/topology.js';
import { isRoot, ROOTLESS_ENV, rootlessUnsupported } from './rootless.js';

export type Dataplane = 'auto' | 'nftables' | 'iptables' | 'userspace' | 'none';

/** The prefix of every namespace a cluster in this data dir creates (stable, so `down` finds them). */
export function clusterPrefix(dataDir: string): string {
  return `sn${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 6)}`;
}

function onPath(tool: string): boolean {
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']).some((d) => existsSync(join(d, tool)));
}

/** Which data plane `auto` means here, and why. */
export function chooseDataplane(want: Dataplane): { dataplane: Exclude<Dataplane, 'auto'>; why: string } {
  const root = isRoot();
  if (want === 'none') return { dataplane: 'none', why: 'asked for no nodes' };
  if (!root) return { dataplane: 'none', why: `not root, and no user namespace to be root in: ${rootlessUnsupported() ?? 'not started in one'} (control plane only)` };
  const as = process.env[ROOTLESS_ENV] ? 'rootless (root in a user namespace)' : 'root';
  if (!onPath('ip')) return { dataplane: 'none', why: '`ip` (iproute2) is not installed (control plane only)' };
  if (want === 'auto') {
    if (onPath('nft')) return { dataplane: 'nftables', why: `${as} and nft present` };
    if (onPath('iptables-restore')) return { dataplane: 'iptables', why: `${as}, no nft, iptables-restore present` };
    return { dataplane: 'userspace', why: `${as}, but neither nft nor iptables-restore is installed: the proxies relay in userspace` };
  }
  if (want === 'userspace') return { dataplane: 'userspace', why: 'asked for' };
  const tool = want === 'nftables' ? 'nft' : 'iptables-restore';
  if (!onPath(tool)) throw new Error(`--dataplane ${want} needs \`${tool}\`, which is not installed`);
  return { dataplane: want, why: 'asked for' };
}

/** Removes what a cluster left in this data dir's prefix (namespaces, processes in them). */
export async function down(dataDir: string): Promise<string[]> {
  const prefix = clusterPrefix(dataDir);
  const state = join(resolve(dataDir), 'cluster.json');
  const { removed } = await destroyTopology(prefix);
  rmSync(state, { force: true });
  return removed;
}

export interface UpOptions {
  dataDir: string;
  storage?: string;
  listen: { host: string; port: number };
  serviceClusterIPRange: string;
  serviceNodePortRange: string;
  disabledControllers?: string[];
  /** Worker nodes (default 2). */
  nodes?: number;
  dataplane?: Dataplane;
  clusterCIDR?: string;
  /** LoadBalancer addresses on the LAN (default 172.30.0.200-172.30.0.250). */
  lbPool?: string;
  quiet?: boolean;
  out?: (s: string) => void;
}

export interface Cluster {
  api: RunningApiServer;
  controllers: RunningControllerManager;
  client: HttpClient;
  nodes?: NetnsCluster;
  prefix: string;
  kubeconfigPath: string;
  summary(): ClusterSummary;
  close(): Promise<void>;
}

export interface ClusterSummary {
  apiServer: string;
  kubeconfig: string;
  storage: string;
  serviceClusterIPRange: string;
  serviceNodePortRange: string;
  controllers: string[];
  nodes: string[];
  dataplane: string;
  lbPool?: string;
  dnsIP?: string;
  clientNetns?: string;
}

export async function up(o: UpOptions): Promise<Cluster> {
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const storage = o.storage ?? `sqlite:${dataDir}/state.db`;
  const p = progress(o.out ?? ((s) => process.stdout.write(s)), !o.quiet);
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => { for (const c of closers.reverse()) await c(); };
  try {
    const prefix = clusterPrefix(dataDir);
    const dp = chooseDataplane(o.dataplane ?? 'auto');
    p.note(`  • data plane: ${dp.dataplane} (${dp.why})`);
    const names = Array.from({ length: o.nodes ?? 2 }, (_, i) => `node-${i + 1}`);
    const clusterCIDR = o.clusterCIDR ?? '10.244.0.0/16';
    // The network needs nothing from the API server: it is built while the API server starts.
    let topology: Promise<Topology> | undefined;
    let topologyHandedOver = false;
    if (dp.dataplane !== 'none') {
      writeFileSync(join(dataDir, 'cluster.json'), JSON.stringify({ prefix, pid: process.pid, nodes: names, dataplane: dp.dataplane }, null, 2));
      closers.push(() => rmSync(join(dataDir, 'cluster.json'), { force: true }));
      const t = p.step(`network (${names.length} nodes, LAN, client)`,
        () => createTopology({ prefix, nodes: names, clusterCIDR }), (x) => `LAN ${x.lan.cidr}`);
      t.catch(() => undefined); // awaited below, or by the closer
      topology = t;
      closers.push(async () => { if (!topologyHandedOver && await t.then(() => true, () => false)) await destroyTopology(prefix); });
    }
    const api = await p.step(`storage and API server`, () => startApiServer({
      listenHost: o.listen.host, listenPort: o.listen.port, storage, dataDir,
      serviceClusterIPRange: o.serviceClusterIPRange, serviceNodePortRange: o.serviceNodePortRange,
    }), (a) => a.url);
    closers.push(() => api.close());
    api.api.nonResourceHandlers.set('/ui', uiHandler({
      objects: api.api, explain: explainService,
      defaults: { mode: dp.dataplane === 'iptables' || dp.dataplane === 'userspace' ? dp.dataplane : 'nftables', clusterCIDR },
    }));
    const kubeconfigPath = api.kubeconfigPath!;
    const { client, socketPath } = await inProcessClient(api, dataDir, kubeconfigPath, closers);
    const reconcilers = defaultReconcilers({ disabled: o.disabledControllers });
    // Controllers and nodes start side by side: each side only talks to the API server.
    const controllersP = p.step('controllers', async () => {
      const cm = startControllerManager(client, reconcilers);
      try {
        await cm.waitForSync();
      } catch (e) {
        await cm.close();
        throw e;
      }
      return cm;
    }, (cm) => `${cm.controllers.length} running`);
    controllersP.catch(() => undefined); // awaited below, or by the closer
    closers.push(async () => { await (await controllersP.catch(() => undefined))?.close(); });
    let nodes: NetnsCluster | undefined;
    if (topology) {
      topologyHandedOver = true;
      nodes = await startNetnsCluster({
        api: api.api, adminToken: api.token, client, dataDir, prefix, nodes: names, mode: dp.dataplane as NetnsClusterOptions['mode'], apiSocket: socketPath, kubeconfigPath,
        serviceClusterIPRange: o.serviceClusterIPRange, clusterCIDR,
        lbPool: o.lbPool ?? '172.30.0.200-172.30.0.250', progress: p, topology,
      });
      const n = nodes;
      closers.push(() => n.close());
    }
    const controllers = await controllersP;
    const summary = (): ClusterSummary => ({
      apiServer: api.url, kubeconfig: kubeconfigPath, storage,
      serviceClusterIPRange: o.serviceClusterIPRange, serviceNodePortRange: o.serviceNodePortRange,
      controllers: reconcilers.map((r) => r.name),
      nodes: nodes ? nodes.topology.nodes.map((n) => `${n.name} (${n.lanIP}, pods ${n.podCIDR})`) : [],
      dataplane: `${dp.dataplane} (${dp.why})`,
      lbPool: nodes?.lbPool, dnsIP: nodes?.dnsIP, clientNetns: nodes?.topology.client.netns,
    });
    return { api, controllers, client, kubeconfigPath, summary, close: closeAll, nodes, prefix };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * The client this process's own components (controllers, agents, proxies, DNS) share.
 * They reach the API server over a unix socket in the data dir (owner-only), in plain
 * HTTP: each of the connections they hold (one per watch) would otherwise cost a TLS
 * handshake on both ends, a few ms of CPU each, on the path to `up` being ready. Falls back
 * to the kubeconfig when the path is too long for a unix socket.
 */
async function inProcessClient(api: RunningApiServer, dataDir: string, kubeconfigPath: string, closers: (() => Promise<void> | void)[]): Promise<{ client: HttpClient; socketPath?: string }> {
  const path = join(dataDir, 'apiserver.sock');
  if (Buffer.byteLength(path) > 100) {
    const c = new HttpClient(loadKubeconfig(kubeconfigPath));
    closers.push(() => c.close());
    return { client: c };
  }
  rmSync(path, { force: true });
  const server = createHttpServer({ keepAliveTimeout: 30_000, requestTimeout: 0 });
  api.api.serve(server);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => res());
  });
  chmodSync(path, 0o600);
  closers.push(() => new Promise<void>((res) => {
    server.close(() => res());
    server.closeAllConnections();
    rmSync(path, { force: true });
  }));
  const c = new HttpClient({ server: 'http://localhost', token: api.token }, { socketPath: path });
  closers.push(() => c.close());
  return { client: c, socketPath: path };
}

export function renderSummary(s: ClusterSummary): string {
  const rows: [string, string][] = [
    ['API server', s.apiServer],
    ['kubeconfig', s.kubeconfig],
    ['storage', s.storage],
    ['service CIDR', s.serviceClusterIPRange],
    ['NodePort range', s.serviceNodePortRange],
    ['controllers', s.controllers.join(', ')],
    ['nodes', s.nodes.length ? s.nodes.join(', ') : '(none)'],
    ['data plane', s.dataplane],
    ...(s.lbPool ? [['LB pool', s.lbPool] as [string, string]] : []),
    ...(s.dnsIP ? [['cluster DNS', s.dnsIP] as [string, string]] : []),
  ];
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  const next = s.nodes.length
    ? `  export KUBECONFIG=${s.kubeconfig}\n  kubectl create deployment web --image=nginx --replicas=3\n  kubectl expose deployment web --port=80 --type=LoadBalancer\n  kubectl get svc web                      # EXTERNAL-IP from the LB pool\n  svcnet exec client -- curl -s http://<EXTERNAL-IP>/\n  svcnet trace web --from client\n  kubectl proxy &                          # then the web page: http://127.0.0.1:8001/ui/`
    : `  export KUBECONFIG=${s.kubeconfig}\n  kubectl get svc,endpointslices -A\n  kubectl proxy &                          # then the web page: http://127.0.0.1:8001/ui/`;
  return `\nsvcnet is up.\n\n${rows.map(([k, v]) => `  ${k.padEnd(w)}${v}`).join('\n')}\n\nNext:\n${next}\n\nCtrl-C stops everything.\n`;
}
