// The node agent ("kubelet + CNI") of one node: registers the Node, renews
// its Lease, watches the pods bound to it (fieldSelector spec.nodeName), runs
// them in network namespaces hanging off the node's namespace, probes them,
// writes their status through pods/status, and carries out graceful deletion.
//
// Restart: pod records under dataDir say which sandboxes and processes an
// earlier agent made; pods that still exist are adopted (their processes keep
// running, their IPs stay theirs), the others are cleaned up, and IPAM is
// reconciled with what is left before any new address is handed out.
import { readFileSync } from 'node:fs';
import { arch, cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { isStatusError } from '../api/errors.js';
import { findByKind } from '../api/resources.js';
import { systemClock, type Clock, type TimerHandle } from '../client/clock.js';
import { EventRecorder } from '../client/events.js';
import { Informer } from '../client/informer.js';
import { errorText, silentLogger, type Logger } from '../client/log.js';
import type { Client, KObject } from '../client/types.js';
import { gatewayOf, IpamStore } from './ipam.js';
import { parseCidr4 } from './ipv4.js';
import { registerExecSource } from './exec.js';
import { registerLogSource, type LogPod } from './logs.js';
import { PodPortForwarder, registerPortForwardSource } from './portforward.js';
import { sha256Hex, validatePrefix } from './names.js';
import { IpNetns, type Netns } from './netns.js';
import { builtinScript, NodeProber, type ProbeExecutor } from './probes.js';
import { type BackoffConfig, PodWorker } from './podworker.js';
import { destroySandbox, HostProcessRunner, newPodRecord, RecordStore, type PodRecord, type ProcessRunner } from './runtime.js';
import {
  HEARTBEAT_MS, KUBELET_ADDRESS_ANNOTATION, leaseObject, microTime, NODE_LEASE_NAMESPACE, nodeObject, nodeStatus, type HostFacts, type NodeIdentity,
} from './nodestatus.js';

const podsR = findByKind('v1', 'Pod')!;
const nodesR = findByKind('v1', 'Node')!;
const servicesR = findByKind('v1', 'Service')!;
const leasesR = findByKind('coordination.k8s.io/v1', 'Lease')!;

export interface NodeAgentOptions {
  client: Client;
  nodeName: string;
  /** The cluster's prefix: pod namespaces are `<prefix>-pod-…`. */
  prefix: string;
  /** This node's own directory: IPAM state, pod records, container logs. */
  dataDir: string;
  /** The node's network namespace (made by createTopology). */
  nodeNetns: string;
  /** The node's InternalIP. */
  lanIP: string;
  /** The node's pod CIDR, e.g. 10.244.1.0/24. */
  podCIDR: string;
  /** Cluster DNS service IP for pods' resolv.conf (default 10.96.0.10). */
  dnsIP?: string;
  clusterDomain?: string;
  log?: Logger;
  /** Crash-loop backoff (kubelet: 10 s → 5 min). */
  restartBackoff?: BackoffConfig;
  /** Lease renewal and node status period (default 10 s). */
  heartbeatMs?: number;
  /** The `node` binary that runs built-in images and the probe helper (default: this process's). */
  nodeBinary?: string;
  /** PATH inside containers. */
  containerPath?: string;
  maxPods?: number;
  /**
   * The kubelet endpoint this agent's process serves (`svcnet agent`: cluster/kubelet-server.ts),
   * recorded in the Node for the API server; none when the API server runs the agent in its own process.
   */
  kubeletEndpoint?: { address: string; port: number };
  /** Put the pod gateway on the node's lo and enable forwarding (default true; createTopology does it too). */
  configureNodeNetns?: boolean;
  // Seams for tests.
  netns?: Netns;
  runner?: ProcessRunner;
  prober?: ProbeExecutor;
  clock?: Clock;
  hostFacts?: HostFacts;
}

export interface NodeAgent {
  readonly nodeName: string;
  /** The network namespace of a pod running here (for `svcnet exec pod/NAME`). */
  podNetns(namespace: string, name: string): string | undefined;
  /** The pod's IP as the agent assigned it. */
  podIP(namespace: string, name: string): string | undefined;
  /** Resolves once no pod sync is in progress (tests). */
  idle(): Promise<void>;
  /**
   * Stops watching, probing and heart-beating. Pods keep running (a new agent
   * adopts them) unless `stopPods`, which kills them and removes their sandboxes.
   */
  close(opts?: { stopPods?: boolean }): Promise<void>;
}

/** Host facts for the Node object, read once. */
export function readHostFacts(nodeName: string): HostFacts {
  const read = (p: string): string => { try { return readFileSync(p, 'utf8').trim(); } catch { return ''; } };
  const osRelease = read('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
  const machine = read('/etc/machine-id') || 'svcnet';
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  // Each node is its own "machine": ids derived from the host's and the node's name.
  const id = sha256Hex(`${machine}/${nodeName}`);
  return {
    cpus: cpus().length || 1, memoryBytes: totalmem(), kernelVersion: release(), osImage: pretty,
    architecture: archMap[arch()] ?? arch(), machineID: id.slice(0, 32),
    bootID: read('/proc/sys/kernel/random/boot_id') || id.slice(32, 64),
    systemUUID: `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20, 32)}`,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function startNodeAgent(o: NodeAgentOptions): Promise<NodeAgent> {
  validatePrefix(o.prefix);
  parseCidr4(o.podCIDR);
  const log = o.log ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const netns = o.netns ?? new IpNetns();
  const ownRunner = o.runner ? undefined : new HostProcessRunner();
  const runner = o.runner ?? ownRunner!;
  const ownProber = o.prober ? undefined : new NodeProber(o.nodeNetns, { nodeBinary: o.nodeBinary });
  const prober = o.prober ?? ownProber!;
  const facts = o.hostFacts ?? readHostFacts(o.nodeName);
  const records = new RecordStore(o.dataDir);
  const ipam = new IpamStore(join(o.dataDir, 'ipam.json'), o.podCIDR);
  const gateway = gatewayOf(o.podCIDR);
  const nodeBinary = o.nodeBinary ?? process.execPath;
  const id: NodeIdentity = { nodeName: o.nodeName, internalIP: o.lanIP, podCIDR: o.podCIDR, maxPods: o.maxPods ?? 110, kubeletEndpoint: o.kubeletEndpoint };
  const events = new EventRecorder(o.client, { component: 'kubelet', log, clock });
  const pendingEvents = new Set<Promise<void>>();
  const workers = new Map<string, PodWorker>();
  let closed = false;
  let heartbeat: TimerHandle | undefined;
  let nodeUid: string | undefined;
  let lastNodeStatus: Node['status'];

  if (o.configureNodeNetns !== false) {
    await netns.apply(o.nodeNetns, [{ op: 'setUp', link: 'lo' }, { op: 'setAddr', link: 'lo', cidr: `${gateway}/32` }]);
    await netns.sysctl(o.nodeNetns, 'net.ipv4.ip_forward', '1');
  }

  // --- Node registration, lease, heartbeats -------------------------------
  const registerNode = async (): Promise<void> => {
    const now = iso(clock.now());
    try {
      const cur = await o.client.get<Node & KObject>(nodesR, undefined, o.nodeName);
      nodeUid = cur.metadata?.uid;
      if (cur.spec?.podCIDR && cur.spec.podCIDR !== o.podCIDR) {
        log.warn('node podCIDR differs from the agent\'s', { node: o.nodeName, node_podCIDR: cur.spec.podCIDR, agent_podCIDR: o.podCIDR });
      }
      const want = nodeObject(id, facts, now);
      if (!cur.spec?.podCIDR) {
        await o.client.patch(nodesR, undefined, o.nodeName, 'merge', { spec: want.spec, metadata: { labels: want.metadata!.labels } });
      }
      const kubeletAddress = o.kubeletEndpoint?.address;
      if (cur.metadata?.annotations?.[KUBELET_ADDRESS_ANNOTATION] !== kubeletAddress) {
        await o.client.patch(nodesR, undefined, o.nodeName, 'merge', { metadata: { annotations: { [KUBELET_ADDRESS_ANNOTATION]: kubeletAddress ?? null } } });
      }
      lastNodeStatus = nodeStatus(id, facts, now, cur.status);
      await o.client.patch(nodesR, undefined, o.nodeName, 'merge', { status: lastNodeStatus }, { subresource: 'status' });
    } catch (e) {
      if (!isStatusError(e) || e.code !== 404) throw e;
      const created = await o.client.create<Node & KObject>(nodesR, undefined, nodeObject(id, facts, now) as KObject);
      nodeUid = created.metadata?.uid;
      lastNodeStatus = created.status;
    }
  };

  const renewLease = async (): Promise<void> => {
    try {
      const cur = await o.client.get<Lease & KObject>(leasesR, NODE_LEASE_NAMESPACE, o.nodeName);
      const next = { ...cur, spec: { ...cur.spec, holderIdentity: o.nodeName, leaseDurationSeconds: cur.spec?.leaseDurationSeconds ?? 40, renewTime: microTime(clock.now()) } };
      await o.client.update(leasesR, NODE_LEASE_NAMESPACE, next as KObject);
    } catch (e) {
      if (!isStatusError(e) || e.code !== 404) throw e;
      await o.client.create(leasesR, NODE_LEASE_NAMESPACE, leaseObject(o.nodeName, nodeUid, clock.now()) as KObject);
    }
  };

  const beat = async (): Promise<void> => {
    heartbeat = undefined;
    if (closed) return;
    try {
      await renewLease();
      const now = iso(clock.now());
      lastNodeStatus = nodeStatus(id, facts, now, lastNodeStatus);
      await o.client.patch(nodesR, undefined, o.nodeName, 'merge', { status: { conditions: lastNodeStatus.conditions } }, { subresource: 'status' });
    } catch (e) {
      if (isStatusError(e) && e.code === 404) {
        // The Node was deleted: register again, as kubelet does.
        await registerNode().catch((err: unknown) => log.warn('node re-registration failed', { node: o.nodeName, error: errorText(err) }));
      } else {
        log.warn('node heartbeat failed', { node: o.nodeName, error: errorText(e) });
      }
    }
    if (!closed) heartbeat = clock.setTimeout(() => void beat(), o.heartbeatMs ?? HEARTBEAT_MS);
  };

  await registerNode();
  await renewLease();

  // --- Pods ----------------------------------------------------------------
  const services = new Informer<Service & KObject>(o.client, servicesR, { log, clock });
  const pods = new Informer<Pod & KObject>(o.client, podsR, { fieldSelector: `spec.nodeName=${o.nodeName}`, log, clock });
  const hostResolvConf = (() => { try { return readFileSync('/etc/resolv.conf', 'utf8'); } catch { return ''; } })();
  const containerPath = o.containerPath ?? ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', dirname(nodeBinary)]
    .filter((d, i, a) => a.indexOf(d) === i).join(':');

  const deps = {
    prefix: o.prefix, nodeName: o.nodeName, nodeNetns: o.nodeNetns, hostIP: o.lanIP,
    sandbox: {
      prefix: o.prefix, nodeNetns: o.nodeNetns, podCIDR: o.podCIDR, gateway,
      dnsIP: o.dnsIP ?? '10.96.0.10', clusterDomain: o.clusterDomain ?? 'cluster.local', hostResolvConf,
    },
    netns, runner, prober, ipam, records, client: o.client, clock, log,
    backoff: o.restartBackoff ?? { initialMs: 10_000, maxMs: 300_000 },
    containerBaseEnv: { PATH: containerPath, HOME: '/root' },
    builtinCommand: [nodeBinary, builtinScript('image')],
    nodeCPU: facts.cpus, nodeMemoryBytes: facts.memoryBytes,
    services: () => services.store.list(),
    event: (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void => {
      if (closed) return;
      const md = pod.metadata ?? {};
      const p = events.record({
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: md.namespace, name: md.name ?? '', uid: md.uid, resourceVersion: md.resourceVersion },
        type, reason, message,
      });
      pendingEvents.add(p);
      void p.finally(() => pendingEvents.delete(p));
    },
    onDone: (uid: string): void => { workers.delete(uid); },
  };

  services.start();
  pods.start();
  await Promise.all([pods.waitForSync(), services.waitForSync()]);

  // Adopt what an earlier agent left; clean up the rest.
  const byUid = new Map<string, Pod>();
  for (const p of pods.store.list()) if (p.metadata?.uid) byUid.set(p.metadata.uid, p);
  const kept: PodRecord[] = [];
  for (const r of records.list()) {
    if (byUid.has(r.uid)) { kept.push(r); continue; }
    for (const c of Object.values(r.containers)) {
      if (c.pid && c.startTicks !== undefined) {
        const proc = runner.adopt(c.pid, c.startTicks);
        if (proc) runner.signalGroup(proc.pid, 'SIGKILL');
      }
    }
    await destroySandbox(netns, { nodeNetns: o.nodeNetns }, r).catch((e: unknown) => log.warn('cleanup of a stale sandbox failed', { netns: r.netns, error: errorText(e) }));
    records.remove(r.uid);
  }
  const inUse = new Map<string, { podUid: string; namespace: string; name: string }>();
  for (const r of kept) if (!r.hostNetwork && r.podIP && !r.terminal) inUse.set(r.podIP, { podUid: r.uid, namespace: r.namespace, name: r.name });
  ipam.reconcile(inUse);
  for (const r of kept) {
    const w = new PodWorker(deps, r.uid, byUid.get(r.uid)!, r, true);
    workers.set(r.uid, w);
    await w.checkSandbox();
  }

  const handlePod = (pod: Pod): void => {
    if (closed) return;
    const uid = pod.metadata?.uid;
    if (!uid) return;
    let w = workers.get(uid);
    if (!w) {
      // A pod that finished before this agent knew it has nothing left to run.
      const phase = pod.status?.phase;
      if ((phase === 'Succeeded' || phase === 'Failed') && !pod.metadata?.deletionTimestamp) return;
      w = new PodWorker(deps, uid, pod, newPodRecord(o.prefix, o.nodeNetns, pod), false);
      workers.set(uid, w);
    }
    w.update(pod);
  };
  const reg = pods.addEventHandler({
    onAdd: handlePod,
    onUpdate: (_old, pod) => handlePod(pod),
    onDelete: (pod) => { const uid = pod.metadata?.uid; if (uid) workers.get(uid)?.update(undefined); },
  });
  for (const w of workers.values()) w.kick();

  const findWorker = (namespace: string, name: string): PodWorker | undefined => {
    let found: PodWorker | undefined;
    for (const w of workers.values()) if (w.namespace === namespace && w.name === name) found = w;
    return found;
  };
  const logSource = registerLogSource({
    findPod(namespace: string, name: string): LogPod | undefined {
      const w = findWorker(namespace, name);
      if (!w) return undefined;
      const spec = w.spec;
      return {
        name,
        containers: (spec?.containers ?? []).map((c) => c.name),
        initContainers: (spec?.initContainers ?? []).map((c) => c.name),
        container: (c) => w.containerState(c),
        logPath: (c, n) => records.logPath(w.uid, c, n),
      };
    },
  });

  const execSource = registerExecSource({
    nodeName: o.nodeName,
    findPod(namespace, name, uid) {
      const w = uid ? workers.get(uid) : findWorker(namespace, name);
      if (!w || w.namespace !== namespace || w.name !== name) return undefined;
      return { uid: w.uid, target: (c) => w.execTarget(c), attach: (c) => w.attachTarget(c) };
    },
  });

  const forwarder = new PodPortForwarder({ nodeBinary: o.nodeBinary });
  const portForwardSource = registerPortForwardSource({
    findPod(namespace, name) {
      const w = findWorker(namespace, name);
      if (!w) return undefined;
      const netns = w.netnsName;
      return {
        sandboxId: w.uid, ready: w.sandboxReady,
        dial: (port) => forwarder.dial(netns, w.uid, port),
      };
    },
  });

  heartbeat = clock.setTimeout(() => void beat(), o.heartbeatMs ?? HEARTBEAT_MS);
  log.info('node agent started', { node: o.nodeName, podCIDR: o.podCIDR, adopted: kept.length });

  return {
    nodeName: o.nodeName,
    podNetns: (namespace, name) => findWorker(namespace, name)?.netnsName,
    podIP: (namespace, name) => findWorker(namespace, name)?.podIP,
    async idle() {
      for (let i = 0; i < 1000; i++) {
        await Promise.all([...workers.values()].map((w) => w.whenIdle()));
        await new Promise((r) => setTimeout(r, 10));
        if (![...workers.values()].some((w) => w.busy)) return;
      }
    },
    async close(opts = {}) {
      if (closed) return;
      closed = true;
      if (heartbeat !== undefined) clock.clearTimeout(heartbeat);
      reg.dispose();
      pods.close();
      services.close();
      logSource.dispose();
      portForwardSource.dispose();
      forwarder.close();
      execSource.dispose();
      const ws = [...workers.values()];
      if (opts.stopPods) await Promise.all(ws.map((w) => w.destroy()));
      for (const w of ws) w.close();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(ws.map((w) => w.whenIdle())), new Promise((r) => { t = setTimeout(r, 5000); })]);
      clearTimeout(t);
      ownProber?.close();
      ownRunner?.close();
      await Promise.all([...pendingEvents]);
      log.info('node agent stopped', { node: o.nodeName, stoppedPods: !!opts.stopPods });
    },
  };
}
