// Churn benchmark: N Services × P pods whose readiness flaps, the EndpointSlice
// and Endpoints controllers keeping up. Measures the time from a pod's status
// patch to the watch event of the EndpointSlice write that reflects it (p50,
// p90, p99, max) at a steady offered rate, and the API writes each change costs
// (minimal churn: ideally one EndpointSlice write and one Endpoints write).
// Several rates (`--rate 20,100,200`) run one after the other on the same
// cluster, each from a steady state, one result row each.
//
// Three processes, so that no timestamp waits behind another component's
// work: the API server (`svcnet apiserver`), the controller manager (`svcnet
// controller-manager` with only the endpoint controllers, over HTTP), and this
// one, which only writes pods and watches. `--controllers bench` runs the
// controller manager in this process instead (and reports its own metrics).
//
//   npx tsc -p tsconfig.json --outDir .build/churn && node .build/churn/bench/churn.js \
//     [--services 1000] [--pods 10] [--changes 2000] [--rate 100[,200…]] [--namespaces 1] [--nodes 3]
//     [--storage memory|sqlite|memory,sqlite] [--controllers child|bench [--workers 2]]
//     [--concurrency 32] [--drain-ms 15000] [--cpu-prof DIR] [--seed 1] [--probe] [--node-flags '--trace-gc …']
//
// --probe loads bench/churn-probe into both children (and runs it here): every
// GC pause and event-loop stall of each process, with wall-clock times, lined
// up with the changes slower than 50 ms (which process was stalled while a
// slow change was on its way); --probe-dir DIR keeps the records (JSON lines,
// one file per process; with --cpu-prof, their "m" times line up with the
// profiles' samples). --node-flags passes V8/Node flags to the children.
//
// At the default size (1k Services × 10 pods, one namespace, memory) the
// setup and initial sync take about a minute, then each rate its changes ÷
// rate seconds and the drain; --storage memory,sqlite repeats it all on SQLite.
import { spawn, type ChildProcess } from 'node:child_process';
import { prng } from '../src/api/testing/prng.js';
import { NODE_FLAGS } from '../src/cluster/node-flags.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProbe } from './churn-probe.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { findByKind, type ResourceInfo } from '../src/api/resources.js';
import { HttpClient } from '../src/client/http.js';
import type { KObject, WatchHandle } from '../src/client/types.js';
import { defaultReconcilers } from '../src/controllers/all.js';
import { startControllerManager, type RunningControllerManager } from '../src/controllers/manager.js';

type Storage = 'memory' | 'sqlite';

interface Options {
  services: number; pods: number; changes: number; rates: number[]; namespaces: number; nodes: number;
  concurrency: number; storages: Storage[]; seed: number; drainMs: number;
  /** Where the controller manager runs: its own process (default) or this one. */
  controllers: 'child' | 'bench';
  /** Workers per controller, with --controllers bench only (the manager's default: 2). */
  workers?: number;
  /** Where the child processes write V8 CPU profiles (--cpu-prof), if anywhere. */
  cpuProf?: string;
  /** Record GC pauses and event-loop stalls of every process (bench/churn-probe). */
  probe: boolean;
  /** Extra Node/V8 flags for the children. */
  nodeFlags: string[];
}

/** The controllers we run: the endpoint ones (EndpointSlice, Endpoints, mirroring). */
const disabledControllers = ['scheduler', 'replicaset', 'deployment', 'garbagecollector', 'loadbalancer'];

interface Result {
  storage: Storage; services: number; pods: number; changes: number; rate: number; achievedRate: number;
  /** Percentiles over every change; a change never observed counts as infinitely late. */
  p50: number; p90: number; p99: number; max: number; lost: number;
  /** The parts of the path: patch answered, and the pod's change seen on a watch (what the controllers' informer waits for). */
  ackP50: number; ackP99: number; podP50: number; podP99: number;
  /** Pod change seen on the pod watch → slice write seen on the slice watch: what the controllers (and their writes) add. */
  ctlP50: number; ctlP99: number;
  sliceWrites: number; endpointsWrites: number; setupS: number; syncS: number;
  /** 1-minute load average at the start and end of the flap phase. */
  load: [number, number];
  /** CPU time each process spent per change during the flap phase (ms); undefined where /proc is not there. */
  cpuPerChange: { apiserver?: number; controllers?: number; bench: number };
  /** From the in-process controller manager's metrics (undefined when it runs as a child). */
  controllerMetrics?: { sliceActions: number; endpointsActions: number; sliceReconciles: number; endpointsReconciles: number; errors: number };
}

const R = {
  namespaces: mustFind('v1', 'Namespace'),
  nodes: mustFind('v1', 'Node'),
  services: mustFind('v1', 'Service'),
  pods: mustFind('v1', 'Pod'),
  endpoints: mustFind('v1', 'Endpoints'),
  endpointSlices: mustFind('discovery.k8s.io/v1', 'EndpointSlice'),
};

function mustFind(apiVersion: string, kind: string): ResourceInfo {
  const r = findByKind(apiVersion, kind);
  if (!r) throw new Error(`no resource ${apiVersion} ${kind}`);
  return r;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

function rateArg(): number[] {
  const v = strArg('rate') ?? '100';
  const rates = v.split(',').map(Number);
  if (!rates.every((r) => Number.isFinite(r) && r > 0)) throw new Error('--rate needs positive numbers, comma-separated');
  return rates;
}

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? String(process.argv[i + 1]) : undefined;
}

function parseOptions(): Options {
  const storages = (strArg('storage') ?? 'memory').split(',').map((s) => s.trim());
  for (const s of storages) if (s !== 'memory' && s !== 'sqlite') throw new Error(`--storage: memory or sqlite, not ${s}`);
  const controllers = strArg('controllers') ?? 'child';
  if (controllers !== 'child' && controllers !== 'bench') throw new Error(`--controllers: child or bench, not ${controllers}`);
  if (strArg('workers') !== undefined && controllers !== 'bench') throw new Error('--workers needs --controllers bench (svcnet controller-manager has no such flag)');
  return {
    services: arg('services', 1000), pods: arg('pods', 10), changes: arg('changes', 2000), rates: rateArg(),
    namespaces: arg('namespaces', 1), nodes: arg('nodes', 3), concurrency: arg('concurrency', 32),
    storages: storages as Storage[], seed: arg('seed', 1), drainMs: arg('drain-ms', 15000),
    controllers, cpuProf: strArg('cpu-prof'), workers: strArg('workers') === undefined ? undefined : arg('workers', 2),
    probe: process.argv.includes('--probe') || strArg('probe-dir') !== undefined, nodeFlags: (strArg('node-flags') ?? '').split(/\s+/).filter(Boolean),
  };
}

const started = performance.now();
const log = (msg: string) => process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();


/** User + system CPU time of a process in ms, from /proc (Linux); undefined elsewhere or when gone. */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5) (utime, stime), in clock ticks: 100 per second on Linux.
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

// ---------------------------------------------------------------------------
// Child processes: `svcnet apiserver` and `svcnet controller-manager`

/** Temp dirs still to remove, should the run be interrupted. */
const tempDirs = new Set<string>();
process.once('SIGINT', () => {
  // The children share our process group: they got the SIGINT too and stop by themselves.
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  process.exit(130);
});

/** Set by main(): the probe's output file per process name (when --probe), and flags for the children. */
const probeFiles = new Map<string, string>();
let childFlags: string[] = [];
let probeDir: string | undefined;

function spawnSvcnet(args: string[], cpuProfDir: string | undefined, name: string): ChildProcess {
  const main = new URL('../src/cli/main.js', import.meta.url).pathname;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const prof = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const env = { ...process.env };
  const probe: string[] = [];
  if (probeDir) {
    const out = join(probeDir, `${name}.jsonl`);
    rmSync(out, { force: true });
    probeFiles.set(name, out);
    env['CHURN_PROBE_OUT'] = out;
    probe.push('--import', new URL('./churn-probe.js', import.meta.url).href);
  }
  return spawn(process.execPath, [...NODE_FLAGS, ...childFlags, ...prof, ...probe, '-e', `import(${JSON.stringify(main)}).then(m => m.main(process.argv.slice(1)))`, ...args],
    { stdio: ['ignore', 'ignore', 'inherit'], env });
}

/** SIGTERM, so the child closes cleanly (and writes its CPU profile); SIGKILL if it has not exited in 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 10_000); })]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

interface Server { child: ChildProcess; dir: string; kubeconfig: string }

async function startServer(storage: Storage, cpuProfDir?: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-churn-'));
  tempDirs.add(dir);
  const store = storage === 'memory' ? 'memory' : `sqlite:${dir}/state.db`;
  const child = spawnSvcnet(['apiserver', '--listen', '127.0.0.1:0', '--data-dir', dir, '--storage', store, '--log-level', 'error'], cpuProfDir, 'apiserver');
  const kubeconfig = join(dir, 'kubeconfig');
  for (let i = 0; i < 400 && !existsSync(kubeconfig) && child.exitCode === null; i++) await sleep(50);
  if (!existsSync(kubeconfig)) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    throw new Error('apiserver did not start');
  }
  // The kubeconfig appears once the server serves; give its write a moment to complete.
  await sleep(50);
  return { child, dir, kubeconfig };
}

async function stopServer(s: Server): Promise<void> {
  await stopChild(s.child);
  rmSync(s.dir, { recursive: true, force: true });
  tempDirs.delete(s.dir);
}

interface Controllers {
  /** The child's pid, when the controllers run in their own process. */
  pid?: number;
  /** Cumulative API writes by the EndpointSlice and Endpoints controllers, and errors; only in-process. */
  metrics?(): { slice: number; endpoints: number; sliceReconciles: number; endpointsReconciles: number; errors: number; queued: number };
  close(): Promise<void>;
}

function startControllers(o: Options, kubeconfig: string): Controllers {
  if (o.controllers === 'child') {
    const child = spawnSvcnet(['controller-manager', '--kubeconfig', kubeconfig, '--disable', disabledControllers.join(','), '--log-level', 'error'],
      o.cpuProf && join(o.cpuProf, 'controller-manager'), 'controller-manager');
    return { pid: child.pid, close: () => stopChild(child) };
  }
  const client = HttpClient.fromKubeconfig(kubeconfig, { userAgent: 'svcnet-churn-controllers' });
  const manager: RunningControllerManager = startControllerManager(client, defaultReconcilers({ disabled: disabledControllers }), { workers: o.workers });
  const sum = (want: (name: string) => boolean, k: 'actions' | 'errors' | 'reconciles' | 'queueDepth') =>
    manager.controllers.filter((c) => want(c.name)).reduce((a, c) => a + c.metrics()[k], 0);
  return {
    metrics: () => ({
      slice: sum((n) => n === 'endpoint-slice-controller', 'actions'),
      endpoints: sum((n) => n === 'endpoint-controller', 'actions'),
      sliceReconciles: sum((n) => n === 'endpoint-slice-controller', 'reconciles'),
      endpointsReconciles: sum((n) => n === 'endpoint-controller', 'reconciles'),
      errors: sum(() => true, 'errors'),
      queued: sum(() => true, 'queueDepth'),
    }),
    async close() {
      await manager.close();
      client.close();
    },
  };
}

// ---------------------------------------------------------------------------
// A watch that resumes from its last resourceVersion when the stream ends.
// Events lost to compaction (410) would make the counts wrong: that fails the run.

function resumingWatch(client: HttpClient, r: ResourceInfo, fromRV: string, onEvent: (type: string, obj: KObject) => void,
  onLost: (err: Error) => void): { close(): void } {
  let rv = fromRV;
  let handle: WatchHandle | undefined;
  let closed = false;
  const open = () => {
    handle = client.watch(r, undefined, { resourceVersion: rv, allowWatchBookmarks: true }, (e) => {
      const v = e.object.metadata?.resourceVersion;
      if (e.type !== 'ERROR' && v) rv = v;
      if (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') onEvent(e.type, e.object);
    }, (err) => {
      if (closed) return;
      if (err && (err as { code?: unknown }).code === 410) {
        onLost(new Error(`watch ${r.plural}: events after ${rv} were compacted away (${err.message})`));
        return;
      }
      if (err) log(`  watch ${r.plural} ended (${err.message}); resuming from ${rv}`);
      setTimeout(() => { if (!closed) open(); }, 100);
    });
  };
  open();
  return { close: () => { closed = true; handle?.close(); } };
}

/**
 * Waits until the controllers have nothing left to do: in-process, empty
 * queues and no reconcile for 500 ms; as a child, under 5% of a CPU over a
 * second (its no-op reconciles write nothing, so the API cannot tell). Returns
 * the seconds waited.
 */
async function settle(c: Controllers, maxMs = 120_000): Promise<number> {
  const t0 = now();
  while (now() - t0 < maxMs) {
    if (c.metrics) {
      const a = c.metrics();
      await sleep(500);
      const b = c.metrics();
      if (a.queued === 0 && b.queued === 0 && a.sliceReconciles === b.sliceReconciles && a.endpointsReconciles === b.endpointsReconciles) break;
    } else {
      const a = cpuMsOf(c.pid);
      await sleep(1000);
      const b = cpuMsOf(c.pid);
      if (a === undefined || b === undefined || b - a < 50) break;
    }
  }
  return (now() - t0) / 1000;
}

// ---------------------------------------------------------------------------

interface PodInfo { ns: string; name: string; svc: string; node: string; ip: string; ready: boolean }
/** One readiness change: when it was sent, and when the bench saw it on the pod watch and in a slice. */
interface Change { t0: number; ack?: number; podSeen?: number; sliceSeen?: number; pod: string }
interface Pending { t0: number; want: boolean; pod: PodInfo; change: Change }

async function runOne(storage: Storage, o: Options): Promise<Result[]> {
  const ts = now();
  const server = await startServer(storage, o.cpuProf && join(o.cpuProf, 'apiserver'));
  log(`  [${storage}] apiserver up in ${((now() - ts) / 1000).toFixed(1)} s`);
  const client = HttpClient.fromKubeconfig(server.kubeconfig, { userAgent: 'svcnet-churn-bench' });
  let controllers: Controllers | undefined;
  const watches: { close(): void }[] = [];
  let progress: ReturnType<typeof setInterval> | undefined;
  try {
    const t0Setup = now();
    const namespaces = o.namespaces === 1 ? ['default'] : Array.from({ length: o.namespaces }, (_, i) => `churn-${i}`);
    for (const ns of namespaces) {
      if (ns !== 'default') await client.create(R.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    // The EndpointSlice controller skips pods whose Node it has not seen.
    const nodes = Array.from({ length: o.nodes }, (_, i) => `node-${i}`);
    for (const n of nodes) await client.create(R.nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });

    const width = String(o.services - 1).length;
    const services = Array.from({ length: o.services }, (_, i) => ({ ns: namespaces[i % namespaces.length]!, name: `svc-${String(i).padStart(width, '0')}` }));
    const pods: PodInfo[] = [];
    for (const s of services) {
      for (let j = 0; j < o.pods; j++) {
        const k = pods.length + 1; // skip 10.244.0.0
        if (k > 65534) throw new Error('more pods than 10.244.0.0/16 holds');
        pods.push({ ns: s.ns, name: `${s.name}-${j}`, svc: `${s.ns}/${s.name}`, node: nodes[k % nodes.length]!, ip: `10.244.${k >> 8}.${k & 255}`, ready: true });
      }
    }

    // Watch EndpointSlices and Endpoints before anything exists: the setup
    // waits on the same stream the flap phase measures.
    const initial = await client.list(R.endpointSlices, undefined, { limit: 1 });
    const slices = new Map<string, { svc: string; ready: number }>(); // slice ns/name → service, ready endpoints
    const readyBySvc = new Map<string, number>();
    const pending = new Map<string, Pending>(); // pod IP → change awaiting its slice write
    // Per flap phase (one per rate): reset before each.
    let latencies: number[] = [];
    let ackLatencies: number[] = [];
    let podLatencies: number[] = [];
    const podPending = new Map<string, { t0: number; want: boolean; change: Change }>(); // pod IP → change not yet seen on the pod watch
    let changeLog: Change[] = [];
    let watchLost: Error | undefined;
    const onLost = (e: Error) => { watchLost ??= e; };
    const checkWatches = () => { if (watchLost) throw watchLost; };
    let counting = false;
    let sliceWrites = 0;
    let endpointsWrites = 0;
    watches.push(resumingWatch(client, R.endpointSlices, initial.metadata.resourceVersion, (type, obj) => {
      const t1 = now();
      const slice = obj as unknown as EndpointSlice;
      const svcName = slice.metadata?.labels?.['kubernetes.io/service-name'];
      if (!svcName) return;
      if (counting) sliceWrites++;
      const svc = `${slice.metadata?.namespace ?? ''}/${svcName}`;
      const key = `${slice.metadata?.namespace ?? ''}/${slice.metadata?.name ?? ''}`;
      let ready = 0;
      if (type !== 'DELETED') {
        for (const ep of slice.endpoints ?? []) {
          const isReady = ep.conditions?.ready === true;
          if (isReady) ready++;
          const ip = ep.addresses[0];
          const p = ip === undefined ? undefined : pending.get(ip);
          if (p && p.pod.svc === svc && p.want === isReady) {
            latencies.push(t1 - p.t0);
            p.change.sliceSeen = t1;
            pending.delete(ip!);
          }
        }
      }
      const before = slices.get(key);
      if (before) readyBySvc.set(before.svc, (readyBySvc.get(before.svc) ?? 0) - before.ready);
      if (type === 'DELETED') slices.delete(key);
      else {
        slices.set(key, { svc, ready });
        readyBySvc.set(svc, (readyBySvc.get(svc) ?? 0) + ready);
      }
    }, onLost));
    const initialEp = await client.list(R.endpoints, undefined, { limit: 1 });
    watches.push(resumingWatch(client, R.endpoints, initialEp.metadata.resourceVersion, (_type, obj) => {
      if (counting && obj.metadata?.namespace && !(obj.metadata.namespace === 'default' && obj.metadata.name === 'kubernetes')) endpointsWrites++;
    }, onLost));

    let phase = 'creating';
    let created = 0;
    const readyServices = () => {
      let n = 0;
      for (const s of services) if (readyBySvc.get(`${s.ns}/${s.name}`) === o.pods) n++;
      return n;
    };
    progress = setInterval(() => {
      if (phase === 'creating') log(`  [${storage}] created ${created}/${o.services + 2 * pods.length} objects+statuses`);
      else if (phase === 'syncing') log(`  [${storage}] ${readyServices()}/${o.services} services have ${o.pods} ready endpoints`);
    }, 3000);

    // Objects first, controllers after: the initial sync is then one
    // reconcile per Service, rather than one per pod event of the setup.
    // Concurrent Service creates contend on the ClusterIP allocation state;
    // the server gives up after a number of CAS conflicts (500, seen with
    // SQLite). Retried here, and reported, so the churn can still be measured.
    let allocRetries = 0;
    await pool(services, o.concurrency, async (s) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.create(R.services, s.ns, {
            apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.ns },
            spec: { selector: { app: s.name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
          });
          break;
        } catch (e) {
          if (attempt >= 10 || !(e instanceof Error) || !e.message.includes('too many conflicts')) throw e;
          allocRetries++;
        }
      }
      created++;
    });
    if (allocRetries) log(`  [${storage}] ${allocRetries} Service creates failed with "too many conflicts writing allocation state" and were retried`);
    await pool(pods, o.concurrency, async (p) => {
      const svcName = p.svc.slice(p.svc.indexOf('/') + 1);
      await client.create(R.pods, p.ns, {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.ns, labels: { app: svcName } },
        spec: { nodeName: p.node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9', ports: [{ containerPort: 8080 }] }] },
      });
      created++;
      await client.patch(R.pods, p.ns, p.name, 'merge', {
        status: {
          phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }],
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      }, { subresource: 'status' });
      created++;
    });
    const setupS = (now() - t0Setup) / 1000;

    phase = 'syncing';
    const t0Sync = now();
    controllers = startControllers(o, server.kubeconfig);
    for (;;) {
      checkWatches();
      if (readyServices() === o.services) break;
      if (now() - t0Sync > 300_000) throw new Error(`only ${readyServices()}/${o.services} services became ready in 5 minutes`);
      await sleep(100);
    }
    const syncS = (now() - t0Sync) / 1000;
    log(`  [${storage}] setup ${setupS.toFixed(1)} s, initial sync ${syncS.toFixed(1)} s`);

    // The pods' own watch, as the controllers' informer sees it: splits the
    // latency into "the server delivered the pod change" and "the controllers
    // turned it into a slice write".
    const podsRV = (await client.list(R.pods, undefined, { limit: 1 })).metadata.resourceVersion;
    watches.push(resumingWatch(client, R.pods, podsRV, (type, obj) => {
      const t = now();
      const status = obj['status'] as { podIP?: string; conditions?: { type: string; status: string }[] } | undefined;
      const ip = status?.podIP;
      const p = ip === undefined ? undefined : podPending.get(ip);
      if (type !== 'MODIFIED' || !p) return;
      const ready = (status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
      if (ready === p.want) {
        podLatencies.push(t - p.t0);
        p.change.podSeen = t;
        podPending.delete(ip!);
      }
    }, onLost));
    const random = prng(o.seed);
    const results: Result[] = [];
    for (const rate of o.rates) {
      // Flap from a steady state: the sync's tail (Endpoints writes, and the
      // reconciles that the controllers' own writes trigger), or the previous
      // rate's, must be over first.
      phase = 'settling';
      const settleS = await settle(controllers);
      log(`  [${storage}] controllers idle after ${settleS.toFixed(1)} s more; flapping ${o.changes} changes at ${rate}/s`);
      latencies = [];
      ackLatencies = [];
      podLatencies = [];
      pending.clear();
      podPending.clear();
      changeLog = [];
      sliceWrites = 0;
      endpointsWrites = 0;
      const m0 = controllers.metrics?.();
      phase = 'flapping';
      const load0 = loadavg()[0]!;
      const interval = 1000 / rate;
      const inflight = new Set<Promise<void>>();
      let patchErrors = 0;
      let sent = 0;
      counting = true;
      const cpu0 = { apiserver: cpuMsOf(server.child.pid), controllers: cpuMsOf(controllers.pid), bench: ownCpuMs() };
      const start = now();
      clearInterval(progress);
      progress = setInterval(() => log(`  [${storage}] sent ${sent}/${o.changes}, observed ${latencies.length}, pending ${pending.size}`), 3000);
      for (let i = 0; i < o.changes; i++) {
        const due = start + i * interval;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
        // A pod whose previous change is still unobserved is not flapped again: each latency has one cause.
        let p: PodInfo | undefined;
        for (let tries = 0; tries < 50 && (!p || pending.has(p.ip)); tries++) p = pods[Math.floor(random() * pods.length)]!;
        if (!p || pending.has(p.ip)) continue;
        p.ready = !p.ready;
        const pod = p;
        const t0 = now();
        const change: Change = { t0, pod: pod.name };
        changeLog.push(change);
        pending.set(pod.ip, { t0, want: pod.ready, pod, change });
        podPending.set(pod.ip, { t0, want: pod.ready, change });
        const req = client.patch(R.pods, pod.ns, pod.name, 'merge', {
          status: { conditions: [{ type: 'Ready', status: pod.ready ? 'True' : 'False' }] },
        }, { subresource: 'status' }).then(() => { change.ack = now(); ackLatencies.push(change.ack - t0); }, (e: unknown) => {
          patchErrors++;
          pending.delete(pod.ip);
          log(`  patch ${pod.ns}/${pod.name} failed: ${(e as Error).message}`);
        });
        inflight.add(req);
        void req.finally(() => inflight.delete(req));
        sent++;
      }
      const sendS = (now() - start) / 1000;
      log(`  [${storage}] sent ${sent} in ${sendS.toFixed(1)} s; draining`);
      await Promise.all(inflight);
      const drainStart = now();
      while (pending.size > 0 && now() - drainStart < o.drainMs && !watchLost) await sleep(20);
      // Writes that trail the last observed change still count against the changes.
      await sleep(1000);
      counting = false;
      const cpu1 = { apiserver: cpuMsOf(server.child.pid), controllers: cpuMsOf(controllers.pid), bench: ownCpuMs() };
      clearInterval(progress);
      progress = undefined;
      checkWatches();
      const m1 = controllers.metrics?.();
      if (probeDir) reportStalls(`${storage} ${rate}/s`, changeLog, start, now());
      const lost = pending.size;
      if (lost) log(`  [${storage}] ${lost} changes never showed up in a slice within ${o.drainMs} ms`);
      if (patchErrors) log(`  [${storage}] ${patchErrors} status patches failed`);

      const changes = sent - patchErrors;
      const perChange = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : (b - a) / changes);
      const sorted = [...latencies, ...Array.from({ length: lost }, () => Infinity)].sort((a, b) => a - b);
      const acks = [...ackLatencies].sort((a, b) => a - b);
      const podSeen = [...podLatencies].sort((a, b) => a - b);
      // The controllers' share: the pod change seen on a watch → its slice write seen on a watch (both by this process).
      const ctlPart = changeLog.flatMap((c) => (c.podSeen !== undefined && c.sliceSeen !== undefined ? [c.sliceSeen - c.podSeen] : [])).sort((a, b) => a - b);
      results.push({
        storage, services: o.services, pods: pods.length, changes, rate, achievedRate: sent / sendS, load: [load0, loadavg()[0]!],
        p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, lost,
        ackP50: pct(acks, 50), ackP99: pct(acks, 99), podP50: pct(podSeen, 50), podP99: pct(podSeen, 99),
        ctlP50: pct(ctlPart, 50), ctlP99: pct(ctlPart, 99),
        cpuPerChange: {
          apiserver: perChange(cpu0.apiserver, cpu1.apiserver), controllers: perChange(cpu0.controllers, cpu1.controllers),
          bench: (cpu1.bench - cpu0.bench) / changes,
        },
        sliceWrites: sliceWrites / changes, endpointsWrites: endpointsWrites / changes, setupS, syncS,
        ...(m0 && m1 ? {
          controllerMetrics: {
            sliceActions: (m1.slice - m0.slice) / changes, endpointsActions: (m1.endpoints - m0.endpoints) / changes,
            sliceReconciles: (m1.sliceReconciles - m0.sliceReconciles) / changes, endpointsReconciles: (m1.endpointsReconciles - m0.endpointsReconciles) / changes,
            errors: m1.errors - m0.errors,
          },
        } : {}),
      });
    }
    return results;
  } finally {
    const tc = now();
    if (progress) clearInterval(progress);
    for (const w of watches) w.close();
    await controllers?.close();
    client.close();
    await stopServer(server);
    log(`  [${storage}] cleanup ${((now() - tc) / 1000).toFixed(1)} s`);
  }
}

// ---------------------------------------------------------------------------
// --probe: which process was paused while a slow change was on its way.

interface ProbeEvent { k: 'gc' | 'stall' | 'heap'; t: number; d: number; c?: number; kind?: string; used?: number; total?: number }
/** A stall during which the process ran (CPU ≥ 60% of it, GC helper threads included): work or GC, not the machine's other load. */
const busy = (e: ProbeEvent) => e.k === 'stall' && (e.c ?? 0) >= 0.6 * e.d;

function readProbe(file: string, from: number, to: number): ProbeEvent[] {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  const out: ProbeEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as ProbeEvent;
      if (e.t + (e.d ?? 0) >= from && e.t <= to) out.push(e);
    } catch { /* a line cut by the process's exit */ }
  }
  return out;
}

/** Slow = over this; the goal's p99. */
const SLOW_MS = 50;

function reportStalls(label: string, changes: readonly Change[], phaseStart: number, phaseEnd: number): void {
  const epoch = (t: number) => performance.timeOrigin + t;
  const from = epoch(phaseStart), to = epoch(phaseEnd);
  // Let the children flush their last lines.
  const procs = [...probeFiles.entries()].map(([name, file]) => ({ name, events: readProbe(file, from, to) }));
  procs.push({ name: 'bench', events: readProbe(join(probeDir!, 'bench.jsonl'), from, to) });
  const secs = (to - from) / 1000;
  log(`  [probe ${label}] over ${secs.toFixed(1)} s:`);
  for (const p of procs) {
    const gcs = p.events.filter((e) => e.k === 'gc');
    const byKind = new Map<string, { n: number; ms: number; max: number }>();
    for (const g of gcs) {
      const k = byKind.get(g.kind ?? '?') ?? { n: 0, ms: 0, max: 0 };
      k.n++; k.ms += g.d; k.max = Math.max(k.max, g.d);
      byKind.set(g.kind ?? '?', k);
    }
    const stalls = p.events.filter((e) => e.k === 'stall').map((e) => e.d).sort((a, b) => b - a);
    const busyStalls = p.events.filter(busy).map((e) => e.d).sort((a, b) => b - a);
    const heaps = p.events.filter((e) => e.k === 'heap');
    const heap = heaps.length ? `heap used ${Math.min(...heaps.map((h) => h.used!))}–${Math.max(...heaps.map((h) => h.used!))} MB of ${Math.max(...heaps.map((h) => h.total!))} MB` : 'no heap samples';
    log(`    ${p.name.padEnd(18)} GC ${[...byKind].map(([k, v]) => `${k} ${v.n}× ${v.ms.toFixed(0)} ms (max ${v.max.toFixed(1)})`).join(', ') || 'none'}; ` +
      `loop stalls >8 ms: ${stalls.length} (>30 ms: ${stalls.filter((d) => d > 30).length}; largest ${stalls.slice(0, 5).map((d) => d.toFixed(0)).join(', ') || '-'} ms), ` +
      `of which busy: ${busyStalls.length} (>30 ms: ${busyStalls.filter((d) => d > 30).length}; largest ${busyStalls.slice(0, 5).map((d) => d.toFixed(0)).join(', ') || '-'} ms); ${heap}`);
  }
  const slow = changes.filter((c) => (c.sliceSeen ?? Infinity) - c.t0 > SLOW_MS);
  const blame = new Map<string, number>();
  const lines: string[] = [];
  for (const c of slow) {
    const t0 = epoch(c.t0);
    const t1 = c.sliceSeen !== undefined ? epoch(c.sliceSeen) : to;
    const rel = (t: number | undefined) => (t === undefined ? '-' : `+${(t - c.t0).toFixed(0)}`);
    const parts: string[] = [];
    let worstBusy: { name: string; d: number } | undefined;
    let worstStarved: { name: string; d: number } | undefined;
    for (const p of procs) {
      const hits = p.events.filter((e) => e.k !== 'heap' && e.d >= 5 && e.t + e.d >= t0 && e.t <= t1);
      if (!hits.length) continue;
      const busyMs = hits.filter(busy).reduce((a, e) => a + e.d, 0);
      const starvedMs = hits.filter((e) => e.k === 'stall' && !busy(e)).reduce((a, e) => a + e.d, 0);
      if (!worstBusy || busyMs > worstBusy.d) worstBusy = { name: p.name, d: busyMs };
      if (!worstStarved || starvedMs > worstStarved.d) worstStarved = { name: p.name, d: starvedMs };
      parts.push(`${p.name}: ${hits.map((e) => `${e.k === 'gc' ? `gc ${e.kind}` : busy(e) ? 'busy stall' : 'stall'} ${e.d.toFixed(0)} ms${e.k === 'stall' ? ` (cpu ${e.c ?? '?'})` : ''} @${(e.t - t0).toFixed(0)}`).join(', ')}`);
    }
    const who = worstBusy && worstBusy.d >= 20 ? `${worstBusy.name} busy`
      : worstStarved && worstStarved.d >= 20 ? `${worstStarved.name} not running` : 'no stall ≥ 20 ms';
    blame.set(who, (blame.get(who) ?? 0) + 1);
    lines.push(`      ${c.pod}: ack ${rel(c.ack)} pod ${rel(c.podSeen)} slice ${rel(c.sliceSeen)} ms | ${parts.join(' | ') || 'no pause seen'}`);
  }
  log(`    ${slow.length} of ${changes.length} changes slower than ${SLOW_MS} ms; the process stalled longest while each was under way (busy ≥ 20 ms, else not running ≥ 20 ms): ` +
    `${[...blame].map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`);
  for (const l of lines.slice(0, 40)) log(l);
  if (lines.length > 40) log(`      … ${lines.length - 40} more`);
}

async function main(): Promise<void> {
  const o = parseOptions();
  childFlags = o.nodeFlags;
  if (o.probe) {
    const keep = strArg('probe-dir');
    if (keep) mkdirSync(keep, { recursive: true });
    probeDir = keep ?? mkdtempSync(join(tmpdir(), 'svcnet-churn-probe-'));
    if (!keep) tempDirs.add(probeDir);
    const stop = startProbe(join(probeDir, 'bench.jsonl'));
    process.once('exit', () => { stop(); if (probeDir && !keep) rmSync(probeDir, { recursive: true, force: true }); });
  }
  log(`churn bench: ${o.services} services × ${o.pods} pods in ${o.namespaces} namespace(s) on ${o.nodes} nodes; ` +
    `${o.changes} readiness changes at ${o.rates.join(', ')}/s; storage ${o.storages.join(', ')}; controllers in ${o.controllers === 'child' ? 'their own process' : 'this process'}`);
  const results: Result[] = [];
  for (const s of o.storages) results.push(...await runOne(s, o));
  // A change never observed (within --drain-ms after the last one was sent) is 'never'.
  const f = (n: number) => (n === Infinity ? 'never' : n.toFixed(1));
  const cpu = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2));
  const controllerCpu = o.controllers === 'child' ? 'controller-manager CPU ms/change' : 'bench + controllers CPU ms/change';
  console.log(`| storage | services | pods | changes | rate /s (achieved) | p50 ms | p90 ms | p99 ms | max ms | slice writes/change | endpoints writes/change | ${controllerCpu} | apiserver CPU ms/change | load avg (start → end) | goal p99 < 50 ms |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const goal = (r.p99 < 50 ? 'yes' : 'no') + (r.lost > 0 ? ` (${r.lost} changes never seen)` : '');
    const ctl = o.controllers === 'child' ? r.cpuPerChange.controllers : r.cpuPerChange.bench;
    console.log(`| ${r.storage} | ${r.services} | ${r.pods} | ${r.changes} | ${r.rate} (${r.achievedRate.toFixed(0)}) | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} | ` +
      `${r.sliceWrites.toFixed(2)} | ${r.endpointsWrites.toFixed(2)} | ${cpu(ctl)} | ${cpu(r.cpuPerChange.apiserver)} | ${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)} | ${goal} |`);
  }
  console.log('');
  console.log(`Latency: status patch sent → the EndpointSlice watch event showing the pod's new readiness. Writes: watch events during the flap phase ÷ changes ` +
    `(below 1.0 = several changes batched into one write). ${o.namespaces === 1 ? 'All Services and pods in one namespace.' : `Spread over ${o.namespaces} namespaces.`}`);
  for (const r of results) {
    const cm = r.controllerMetrics;
    console.log(`- ${r.storage} ${r.rate}/s: status patch answered p50 ${f(r.ackP50)} / p99 ${f(r.ackP99)} ms; pod change on a pod watch p50 ${f(r.podP50)} / p99 ${f(r.podP99)} ms; ` +
      `pod watch → slice watch p50 ${f(r.ctlP50)} / p99 ${f(r.ctlP99)} ms; ` +
      `CPU ms per change: apiserver ${r.cpuPerChange.apiserver?.toFixed(2) ?? 'n/a'}, ` +
      (o.controllers === 'child' ? `controller-manager ${r.cpuPerChange.controllers?.toFixed(2) ?? 'n/a'}, bench ${r.cpuPerChange.bench.toFixed(2)}; ` : `bench + controllers ${r.cpuPerChange.bench.toFixed(2)}; `) +
      `setup ${f(r.setupS)} s, initial sync ${f(r.syncS)} s` +
      (cm ? `; per change, endpointslice controller: ${cm.sliceReconciles.toFixed(2)} reconciles, ${cm.sliceActions.toFixed(2)} writes; ` +
        `endpoints controller: ${cm.endpointsReconciles.toFixed(2)} reconciles, ${cm.endpointsActions.toFixed(2)} writes; controller errors ${cm.errors}` : ''));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
