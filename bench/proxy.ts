// Node proxy benchmark, all inside one private sandbox (unshare --net --mount --pid):
//
// 1. Full sync at N services × 10 endpoints (synthetic Services + EndpointSlices,
//    ClusterIP, one in four also NodePort): buildSnapshot, render (nftables and
//    iptables), and the kernel apply (`nft -f`, `iptables-restore --noflush` + the
//    built-in chain jumps) into a fresh network namespace, with the appliers of
//    src/proxy/runtime/apply.ts.
// 2. One-service change at the largest N: one endpoint of one service replaced;
//    the sync loop's snapshot update (SnapshotCache: the one service rebuilt) +
//    incremental (nftables) / partial (iptables) render with the renderer's state + apply.
// 3. Network programming latency: a real API server (memory storage) and
//    startProxy (nftables, then iptables, in a node namespace); EndpointSlice
//    readiness flips written over HTTP, timed from the write to the moment the
//    proxy's applied snapshot (set only after `nft -f` / iptables-restore returned)
//    holds the change.
// 4. Data plane: through the ClusterIP (the proxy's DNAT, 1k other services loaded) vs
//    to the pod IP directly vs a bare one-rule DNAT, with netload (C, bench/netload.c,
//    built here with cc) as client (a client pod's namespace, routed by the node: a pod →
//    Service connection; --dataplane-from node: the node's own) and server (pod namespace), each
//    pinned to its own CPU and SCHED_FIFO, the same for every arm; many short rounds,
//    every arm back to back per round (order rotating), warm-up rounds dropped; paired
//    per-round ratios with a bootstrap CI; CPU time of client + server per connection
//    and per MB (schedstat) as the second measure. Prints a VERDICT line.
//    `--dataplane-only` runs part 4 alone on directly applied rules (~35 s).
//
//   npx tsc -p tsconfig.json --outDir .build/pbench && node .build/pbench/bench/proxy.js \
//     [--quick] [--sizes 1000,10000] [--changes 5] [--changes-large 3] [--latency-services 1000] [--flips 100]
//     [--nft-timeout 600] [--ipt-timeout 60] [--reapply-max 20] [--no-legacy] [--skip-full]
//     [--ipt-nft-max 2000] [--latency-modes nftables,iptables]
//     part 4: [--dataplane-only [--dataplane-mode nftables|iptables]] [--dataplane-from pod|node] [--rounds 30] [--warmup 2] [--bulk-mb 128]
//     [--conns 1000] [--conc 8] [--gap-ms 30] [--no-rt] [--no-floor] [--perf DIR [--perf-conns 30000]]
//
// iptables is measured with the system's binaries (iptables-nft on Debian) and with
// iptables-legacy; iptables-nft only up to --ipt-nft-max services (1.8.9 is quadratic
// in the number of chains: 10k services would take hours). An apply that outlives its
// timeout is killed and reported as failed. `--quick`: 100 and 1000 services, 200 for
// the latency, 8 data-plane rounds.
//
// Tables on stdout, progress on stderr. Needs root, `ip`, `nft`, `iptables-restore`, and
// for part 4 a C compiler, `taskset`, `chrt` (and `conntrack`, `perf` for the evidence).
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import { findExecutable } from '../src/node/runtime.js';
import type { KObject } from '../src/client/types.js';
import { allowedCpus, buildNetload, fmtPaired, load, NetloadClient, paired, pin, processSched, rtAvailable, startReady, verdict, type NetloadResult, type Paired } from './dataplane.js';

const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- options

function argStr(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function argNum(name: string, def: number): number {
  const v = argStr(name);
  return v === undefined ? def : Number(v);
}
const quick = process.argv.includes('--quick');
const opts = {
  sizes: (argStr('sizes') ?? (quick ? '100,1000' : '1000,10000')).split(',').map(Number),
  changes: argNum('changes', quick ? 3 : 5),
  /** Changes measured at ≥ 5000 services (iptables-legacy: ~2 s each there). */
  changesLarge: argNum('changes-large', 10),
  latencyServices: argNum('latency-services', quick ? 200 : 1000),
  flips: argNum('flips', quick ? 30 : 100),
  /** Part 4: measured rounds (each: both arms, back to back) and warm-up rounds dropped before them. */
  rounds: argNum('rounds', quick ? 8 : 30),
  warmup: argNum('warmup', 2),
  /** Part 4, per arm and round: MB sent over one connection, short connections and how many at a time. */
  bulkMB: argNum('bulk-mb', 128),
  conns: argNum('conns', 1000),
  conc: argNum('conc', 8),
  /** Part 4 alone, on rules rendered and applied directly (--dataplane-mode nftables|iptables). */
  dataplaneOnly: process.argv.includes('--dataplane-only'),
  dataplaneMode: (argStr('dataplane-mode') ?? 'nftables') as 'nftables' | 'iptables',
  /** Part 4: where the client runs — `pod` (another pod's namespace, routed by the node: a pod → Service
   * connection, DNAT in prerouting) or `node` (the node's own namespace: DNAT in output, then a re-route). */
  dataplaneFrom: (argStr('dataplane-from') ?? 'pod') as 'pod' | 'node',
  /** Part 4: client and server SCHED_FIFO (chrt -f 50) on their pinned CPUs; --no-rt: ordinary scheduling. */
  rt: !process.argv.includes('--no-rt'),
  /** Part 4: also a bare-DNAT arm (one hand-written rule); --no-floor to skip it. */
  floor: !process.argv.includes('--no-floor'),
  /** Part 4: pause before each measured run (ms). */
  gapMs: argNum('gap-ms', 30),
  /** Part 4: after the rounds, `perf record` one longer connection run per arm into this directory. */
  perf: argStr('perf'),
  perfConns: argNum('perf-conns', 30000),
  /** Parts 1 and 2 (full sync, one-service change) are skipped: only the API-driven latency and the data plane. */
  skipFull: process.argv.includes('--skip-full'),
  endpoints: 10,
  /** Per-command limit for `nft -f` and for iptables-restore (seconds); a killed apply is reported. */
  nftTimeoutS: argNum('nft-timeout', 600),
  iptTimeoutS: argNum('ipt-timeout', 60),
  /** The nftables re-apply (full resync over a populated table) is skipped when the first apply took longer. */
  reapplyMaxS: argNum('reapply-max', 20),
  /** iptables-nft is measured up to this many services (1.8.9 is quadratic in chains; 10k would take hours). */
  iptNftMax: argNum('ipt-nft-max', 2000),
  /** Also measure iptables-legacy (default on; --no-legacy to skip). */
  legacy: !process.argv.includes('--no-legacy'),
  /** Proxy modes whose programming latency is measured (part 3), in this order. */
  latencyModes: (argStr('latency-modes') ?? 'nftables,iptables').split(',').filter(Boolean) as ('nftables' | 'iptables')[],
};

// ---------------------------------------------------------------- helpers

const log = (s: string) => process.stderr.write(`${s}\n`);
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A full garbage collection (the bench runs with --expose-gc), so that one part's garbage does not pause the next. */
const collect = () => (globalThis as { gc?: () => void }).gc?.();
const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = now();
  const r = await f();
  return [r, now() - t0];
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const median = (xs: readonly number[]) => pct(xs, 50);

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}
function inNs(ns: string, ...argv: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}
const namespaces = new Set<string>();
function addNs(name: string): void {
  ip('netns', 'add', name);
  namespaces.add(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
}
function delNs(name: string): void {
  try { ip('netns', 'del', name); } catch { /* already gone */ }
  namespaces.delete(name);
}
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const n of namespaces) try { execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' }); } catch { /* gone */ }
});

// ---------------------------------------------------------------- synthetic cluster

const NS = 'default';
const nodeName = 'node-0';
const nodeIP = '192.168.0.10';
/** Synthetic pod IPs live in 10.244.16.0 … 10.247.x.x; the real pod of part 4 is 10.244.1.2. */
const clusterCIDR = '10.244.0.0/14';
const serviceCIDR = '10.96.0.0/16';
const sinkClusterIP = '10.96.200.1';
const sinkPodIP = '10.244.1.2';

const svcName = (i: number) => `svc-${String(i).padStart(5, '0')}`;
function clusterIP(i: number): string {
  const n = i + 512;
  return `10.96.${n >> 8}.${n & 255}`;
}
function podIP(k: number): string {
  const n = k + 4096;
  return `10.${244 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}
const isNodePort = (i: number) => i % 4 === 0;

function service(i: number): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i), namespace: NS },
    spec: {
      type: isNodePort(i) ? 'NodePort' : 'ClusterIP',
      clusterIP: clusterIP(i), clusterIPs: [clusterIP(i)], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', ...(isNodePort(i) ? { nodePort: 30000 + i / 4 } : {}) }],
    },
  };
}

function endpointSlice(i: number, n: number): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${svcName(i)}-bench`, namespace: NS, labels: { 'kubernetes.io/service-name': svcName(i) } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: n }, (_, j) => ({
      addresses: [podIP(i * n + j)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${j % 3}`,
    })),
  };
}

// ---------------------------------------------------------------- parts 1 + 2

type Backend = 'nftables' | 'iptables' | 'iptables-legacy';

interface FullRow {
  services: number; endpoints: number; backend: string; buildMs: number; renderMs: number;
  /** nft -f, or iptables-restore --noflush. */
  applyMs: number;
  /** iptables: ensuring the built-in chain jumps (iptables-save per table, -C / -I). */
  jumpsMs?: number;
  /** nftables: the same full script again over the populated table (a periodic full resync). */
  reapplyMs?: number;
  reapplyNote?: string;
  lines: number; mb: number;
  error?: string;
}

interface ChangeRow { backend: string; buildMs: number[]; renderMs: number[]; applyMs: number[]; lines: number[] }

const renderOpts = { detectLocal: { mode: 'ClusterCIDR' as const, cidrs: [clusterCIDR] }, serviceCIDRs: [serviceCIDR] };

function systemIptablesLabel(): string {
  try {
    const v = execFileSync('iptables', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return v.includes('nf_tables') ? 'iptables (nf_tables)' : 'iptables (legacy)';
  } catch {
    return 'iptables';
  }
}

async function fullAndChange(): Promise<{ rows: FullRow[]; changes: ChangeRow[]; changeServices: number }> {
  const { buildSnapshot, buildServicePortsOf, serviceKey, SnapshotCache } = await import('../src/proxy/snapshot.js');
  const { renderNftables, renderNftablesChainDeletion } = await import('../src/proxy/nftables/render.js');
  const { renderIptables } = await import('../src/proxy/iptables/render.js');
  const { NftApplier, IptablesApplier } = await import('../src/proxy/runtime/apply.js');
  type Applier = InstanceType<typeof NftApplier> | InstanceType<typeof IptablesApplier>;

  const rows: FullRow[] = [];
  const changes: ChangeRow[] = [];
  const largest = Math.max(...opts.sizes);
  const backends: { backend: Backend; label: string; timeoutMs: number }[] = [
    { backend: 'nftables', label: 'nftables', timeoutMs: opts.nftTimeoutS * 1000 },
    { backend: 'iptables', label: systemIptablesLabel(), timeoutMs: opts.iptTimeoutS * 1000 },
    ...(opts.legacy ? [{ backend: 'iptables-legacy' as const, label: 'iptables-legacy', timeoutMs: opts.iptTimeoutS * 1000 }] : []),
  ];
  for (const n of opts.sizes) {
    log(`[1] full sync: ${n} services × ${opts.endpoints} endpoints`);
    const services = Array.from({ length: n }, (_, i) => service(i));
    const slices = Array.from({ length: n }, (_, i) => endpointSlice(i, opts.endpoints));
    const input = { services, slices, nodeName, nodeIPs: [nodeIP] };
    const [snap, buildMs] = await timed(() => buildSnapshot(input));
    log(`    buildSnapshot ${ms(buildMs)}`);

    // The renderers' state (per service port) is kept for part 2, as the data planes keep it.
    const loaded: { backend: Backend; label: string; applier: Applier; ns: string; state: unknown }[] = [];
    for (const { backend, label, timeoutMs } of backends) {
      if (backend === 'iptables' && label.includes('nf_tables') && n > opts.iptNftMax) {
        rows.push({ services: n, endpoints: n * opts.endpoints, backend: label, buildMs, renderMs: NaN, applyMs: NaN, lines: 0, mb: 0,
          error: `skipped above --ipt-nft-max ${opts.iptNftMax} services: iptables-nft 1.8.9 takes time quadratic in the number of chains per call (see docs/benchmarks.md)` });
        log(`    ${label}: skipped (> --ipt-nft-max ${opts.iptNftMax})`);
        continue;
      }
      const ns = `pb-${backend}-${n}`;
      addNs(ns);
      const row: FullRow = { services: n, endpoints: n * opts.endpoints, backend: label, buildMs, renderMs: NaN, applyMs: NaN, lines: 0, mb: 0 };
      rows.push(row);
      try {
        if (backend === 'nftables') {
          const applier = new NftApplier({ netns: ns, timeoutMs });
          const [rs, renderMs] = await timed(() => renderNftables(snap, { ...renderOpts, family: 'IPv4' }));
          Object.assign(row, { renderMs, lines: rs.script.split('\n').length - 1, mb: rs.script.length / 1e6 });
          log(`    ${label}: render ${ms(renderMs)} (${row.lines} lines, ${row.mb.toFixed(1)} MB)`);
          [, row.applyMs] = await timed(() => applier.apply({ kind: 'nftables', script: rs.script }));
          log(`    ${label}: nft -f ${ms(row.applyMs)}`);
          loaded.push({ backend, label, applier, ns, state: rs.state });
          if (row.applyMs <= opts.reapplyMaxS * 1000) {
            // A periodic full resync over the populated table (add table; delete table; add table; …).
            [, row.reapplyMs] = await timed(() => applier.apply({ kind: 'nftables', script: rs.script }));
            log(`    ${label}: nft -f again over the populated table ${ms(row.reapplyMs)}`);
          } else {
            row.reapplyNote = `skipped (apply > ${opts.reapplyMaxS} s)`;
          }
        } else {
          const applier = new IptablesApplier({ netns: ns, timeoutMs, ...(backend === 'iptables-legacy' ? { variant: 'legacy' as const } : {}) });
          const [rs, renderMs] = await timed(() => renderIptables(snap, { ...renderOpts, family: 'IPv4' }));
          Object.assign(row, { renderMs, lines: rs.restore.split('\n').length - 1, mb: rs.restore.length / 1e6 });
          log(`    ${label}: render ${ms(renderMs)} (${row.lines} lines, ${row.mb.toFixed(1)} MB)`);
          // As the proxy's first sync: the built-in chains are listed (-S) and the missing jumps
          // go into the same restore.
          [, row.applyMs] = await timed(() => applier.apply({ kind: 'iptables', family: 'IPv4', restore: rs.restore, jumps: rs.jumps }));
          log(`    ${label}: restore --noflush (with the jumps) ${ms(row.applyMs)}`);
          // A later full sync checks the jumps again on the populated table (all present: listing only).
          [, row.jumpsMs] = await timed(() => applier.apply({ kind: 'iptables', family: 'IPv4', restore: '', jumps: rs.jumps }));
          log(`    ${label}: jumps re-check ${ms(row.jumpsMs)}`);
          loaded.push({ backend, label, applier, ns, state: rs.state });
        }
      } catch (e) {
        row.error = (e as Error).message.replace(/\s+/g, ' ').slice(0, 160);
        log(`    ${label}: failed: ${row.error}`);
        delNs(ns);
      }
    }

    if (n === largest) {
      // ---------------------------------------------------------- part 2
      const nChanges = n >= 5000 ? opts.changesLarge : opts.changes;
      log(`[2] one-service change at ${n} services (${nChanges} changes)`);
      collect();
      const byBackend = new Map(loaded.map((l) => [l.backend, { ...l, row: { backend: l.label, buildMs: [], renderMs: [], applyMs: [], lines: [] } as ChangeRow }]));
      let prev = snap;
      // The sync loop's incremental snapshot: every service port of `snap`, identity kept;
      // a change rebuilds the one service the EndpointSlice event names.
      const cache = new SnapshotCache();
      const byName = new Map(snap.servicePorts.map((sp) => [`${sp.namespace}/${sp.service}`, sp]));
      for (const svc of services) cache.set(serviceKey(svc), [byName.get(serviceKey(svc))!]);
      const node = { nodeName, nodeIPs: [nodeIP] };
      for (let r = 0; r < nChanges; r++) {
        const i = (1234 + r * 997) % n;
        const sl = slices[i]!;
        // One endpoint replaced by a new pod: a new endpoint chain, an old one left stale.
        sl.endpoints[0] = { ...sl.endpoints[0]!, addresses: [podIP(n * opts.endpoints + 100 + r)] };
        const [next, b] = await timed(() => {
          cache.set(serviceKey(services[i]!), buildServicePortsOf(services[i]!, [sl], nodeName, {}));
          return cache.snapshot(node);
        });
        const parts: string[] = [`build ${ms(b)}`];
        for (const l of byBackend.values()) {
          l.row.buildMs.push(b);
          if (l.backend === 'nftables') {
            const applier = l.applier as InstanceType<typeof NftApplier>;
            const [rs, rm] = await timed(() => renderNftables(next, { ...renderOpts, family: 'IPv4', previous: prev, state: l.state as never }));
            l.state = rs.state;
            const [, am] = await timed(() => applier.apply({ kind: 'nftables', script: rs.script }));
            // Stale chains go in a later transaction (kube-proxy waits 1 s; not timed).
            const del = renderNftablesChainDeletion('IPv4', rs.staleChains, rs);
            if (del) await applier.apply({ kind: 'nftables', script: del });
            l.row.renderMs.push(rm); l.row.applyMs.push(am); l.row.lines.push(rs.script.split('\n').length - 1);
          } else {
            const [rs, rm] = await timed(() => renderIptables(next, { ...renderOpts, family: 'IPv4', previous: prev, state: l.state as never }));
            l.state = rs.state;
            const [, am] = await timed(() => l.applier.apply({ kind: 'iptables', family: 'IPv4', restore: rs.restore, jumps: [] }));
            l.row.renderMs.push(rm); l.row.applyMs.push(am); l.row.lines.push(rs.restore.split('\n').length - 1);
          }
          parts.push(`${l.label} render ${ms(l.row.renderMs.at(-1)!)} + apply ${ms(l.row.applyMs.at(-1)!)}`);
        }
        log(`    change ${r + 1}: ${parts.join(', ')}`);
        prev = next;
      }
      changes.push(...[...byBackend.values()].map((l) => l.row));
    }
    log('    deleting namespaces');
    for (const l of loaded) delNs(l.ns);
  }
  return { rows, changes, changeServices: largest };
}

// ---------------------------------------------------------------- parts 3 + 4

interface LatencyResult {
  mode: 'nftables' | 'iptables';
  services: number; flips: number; startMs: number;
  writeAck: number[]; programmed: number[];
  metricCount: number; metricMeanMs: number; syncCount: number; syncMeanMs: number;
  /** nftables: the pure steps of one sync at this size, timed in-process (median of 3), and a no-op `nft -f`. */
  anatomy?: { buildMs: number; renderMs: number; nftNoopMs: number; sessionNoopMs: number };
}

/** Part 4, one arm (a way to reach the sink): per measured round (warm-up rounds dropped). */
interface ArmSeries {
  label: string;
  MBs: number[]; cps: number[];
  /** Client + server CPU time (µs) per MB (bulk) and per connection. */
  cpuPerMB: number[]; cpuPerConn: number[];
  /** Client CPU only (µs per connection): the side where a local DNAT happens (nat OUTPUT, in connect()). */
  clientPerConn: number[];
  /** Run-queue wait of client + server ÷ wall time (mean of the bulk and the connection runs): how much other tasks got in the way. */
  wait: number[];
}
type ArmName = 'vip' | 'pod' | 'floor';
interface ThroughputResult {
  mode: string;
  from: 'pod' | 'node'; services: number; cpus: [number, number]; rt: boolean;
  arms: Partial<Record<ArmName, ArmSeries>>;
  errors: number; loadBefore: string; loadAfter: string; conntrackCount: string; natEvidence?: string;
}

/** The sink behind the ClusterIP: port 80 → 8080 (bulk, netload's sink), 81 → 8081 (short request/answer connections). */
const sinkPorts = [{ name: 'bulk', port: 80, targetPort: 8080 }, { name: 'short', port: 81, targetPort: 8081 }];
function sinkService(): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'sink', namespace: NS },
    spec: { clusterIP: sinkClusterIP, clusterIPs: [sinkClusterIP], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      ports: sinkPorts.map((p) => ({ ...p, protocol: 'TCP' as const })) },
  };
}
function sinkSlice(): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'sink-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'sink' } },
    addressType: 'IPv4', ports: sinkPorts.map((p) => ({ name: p.name, port: p.targetPort, protocol: 'TCP' as const })),
    endpoints: [{ addresses: [sinkPodIP], conditions: { ready: true, serving: true, terminating: false }, nodeName }],
  };
}

/** Node namespace (lo 192.168.0.10, veths to the pods), pod namespace (10.244.1.2) and a client pod's namespace (10.244.2.2). */
function makeTopology(): { nodeNs: string; podNs: string; clientNs: string } {
  const nodeNs = 'pb-node';
  const podNs = 'pb-pod';
  const clientNs = 'pb-cli';
  addNs(nodeNs);
  addNs(podNs);
  addNs(clientNs);
  ip('-n', nodeNs, 'addr', 'add', `${nodeIP}/32`, 'dev', 'lo');
  ip('link', 'add', 'veth-pb', 'netns', nodeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs);
  ip('-n', nodeNs, 'addr', 'add', '10.244.1.1/24', 'dev', 'veth-pb');
  ip('-n', nodeNs, 'link', 'set', 'veth-pb', 'up');
  ip('-n', podNs, 'addr', 'add', `${sinkPodIP}/24`, 'dev', 'eth0');
  ip('-n', podNs, 'link', 'set', 'eth0', 'up');
  ip('-n', podNs, 'route', 'add', 'default', 'via', '10.244.1.1');
  ip('link', 'add', 'veth-pbc', 'netns', nodeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs);
  ip('-n', nodeNs, 'addr', 'add', '10.244.2.1/24', 'dev', 'veth-pbc');
  ip('-n', nodeNs, 'link', 'set', 'veth-pbc', 'up');
  ip('-n', clientNs, 'addr', 'add', '10.244.2.2/24', 'dev', 'eth0');
  ip('-n', clientNs, 'link', 'set', 'eth0', 'up');
  ip('-n', clientNs, 'route', 'add', 'default', 'via', '10.244.2.1');
  inNs(clientNs, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1');
  // Output routing happens before DNAT: the node needs a route for the service range.
  ip('-n', nodeNs, 'route', 'add', serviceCIDR, 'dev', 'veth-pb');
  inNs(nodeNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1');
  inNs(podNs, 'sysctl', '-qw', 'net.core.somaxconn=4096');
  return { nodeNs, podNs, clientNs };
}

/** The bare-DNAT arm: a ClusterIP-like address that one hand-written rule DNATs (what any DNAT-based proxy must do at least). */
const floorIP = '10.96.255.254';

/**
 * Part 4. netload (C, bench/netload.c) as client in the node namespace pinned to one CPU
 * and as server in the pod namespace pinned to the other (SCHED_FIFO unless --no-rt),
 * the same for every arm. Arms: the ClusterIP (the proxy's DNAT), the pod IP directly
 * and, unless --no-floor, a bare DNAT (one rule in a table of its own, a higher-priority
 * nat output chain: no map, no numgen, no svcnet chain). Each round measures every arm
 * with the same work — one bulk connection of --bulk-mb MB (client → server), then
 * --conns request/answer connections, --conc at a time — back to back, the order rotating
 * from round to round; --gap-ms between runs (the RT budget refills, others get the
 * CPUs). Warm-up rounds are dropped. CPU: the client's own (CLOCK_PROCESS_CPUTIME_ID)
 * plus the server's threads (schedstat), which includes the kernel's work in their
 * context (most of a veth's softirq work).
 */
async function dataplane(nodeNs: string, podNs: string, clientNs: string, mode: string, services: number): Promise<ThroughputResult> {
  const built = buildNetload(self);
  if ('error' in built) throw new Error(`part 4 needs netload: ${built.error}`);
  const cpuList = allowedCpus();
  const cpuPair: [number, number] = [cpuList[0]!, cpuList[1] ?? cpuList[0]!];
  const rt = opts.rt && rtAvailable();
  const names: ArmName[] = opts.floor ? ['vip', 'pod', 'floor'] : ['vip', 'pod'];
  if (opts.floor) {
    execFileSync('nsenter', [`--net=/run/netns/${nodeNs}`, 'nft', '-f', '-'], {
      input: `table ip bench-floor {\n  chain out { type nat hook output priority -110; ip daddr ${floorIP} tcp dport 80 dnat to ${sinkPodIP}:8100; ip daddr ${floorIP} tcp dport 81 dnat to ${sinkPodIP}:8101; }\n` +
        `  chain pre { type nat hook prerouting priority -110; ip daddr ${floorIP} tcp dport 80 dnat to ${sinkPodIP}:8100; ip daddr ${floorIP} tcp dport 81 dnat to ${sinkPodIP}:8101; }\n}\n`,
    });
  }
  log(`[4] data plane (${mode}, client in the ${opts.dataplaneFrom === 'pod' ? 'client pod' : 'node'}'s namespace): ${names.join(', ')}; ${opts.warmup} warm-up + ${opts.rounds} rounds × (${opts.bulkMB} MB + ${opts.conns} connections at ${opts.conc}) per arm; client on CPU ${cpuPair[0]}, server on CPU ${cpuPair[1]}${rt ? ', SCHED_FIFO' : ''}`);
  const loadBefore = load();
  const sink = await startReady(['ip', 'netns', 'exec', podNs, ...pin(cpuPair[1], rt), built.path, 'server', '0.0.0.0', '8080,8090,8100', '0', '8081,8091,8101'], 'netload server');
  children.add(sink);
  const client = new NetloadClient(built.path, ['ip', 'netns', 'exec', opts.dataplaneFrom === 'pod' ? clientNs : nodeNs, ...pin(cpuPair[0], rt)]);
  children.add(client.child);
  try {
    // Each arm has server ports of its own: the server's TIME_WAIT sockets of one arm never
    // meet another arm's SYNs (whose timestamps, offset per destination address, may be older).
    const target: Record<ArmName, { label: string; host: string; bulk: number; short: number }> = {
      vip: { label: `via ClusterIP (svcnet ${mode})`, host: sinkClusterIP, bulk: 80, short: 81 },
      pod: { label: 'direct to pod IP', host: sinkPodIP, bulk: 8090, short: 8091 },
      floor: { label: 'bare DNAT (one rule)', host: floorIP, bulk: 80, short: 81 },
    };
    const tp: ThroughputResult = { mode, from: opts.dataplaneFrom, services, cpus: cpuPair, rt, arms: {}, errors: 0, loadBefore, loadAfter: '', conntrackCount: '' };
    for (const n of names) tp.arms[n] = { label: target[n].label, MBs: [], cps: [], cpuPerMB: [], cpuPerConn: [], clientPerConn: [], wait: [] };
    /** One command, with the server's CPU time (ns) and the client's + server's run-queue wait (ns). */
    const measured = async (cmd: string): Promise<NetloadResult & { serverNs: number; waitNs: number }> => {
      if (opts.gapMs) await sleep(opts.gapMs);
      const s0 = processSched(sink.pid);
      const c0 = processSched(client.child.pid);
      const r = await client.run(cmd);
      const s1 = processSched(sink.pid);
      const c1 = processSched(client.child.pid);
      tp.errors += r.errors;
      return { ...r, serverNs: s1.cpuNs - s0.cpuNs, waitNs: s1.waitNs - s0.waitNs + c1.waitNs - c0.waitNs };
    };
    collect();
    for (let r = -opts.warmup; r < opts.rounds; r++) {
      // The order rotates (AB BA … or ABC BCA CAB …): drift and position effects hit every arm alike.
      const k = ((r % names.length) + names.length) % names.length;
      const order = [...names.slice(k), ...names.slice(0, k)];
      if (r & 1 && names.length === 2) order.reverse();
      const row = new Map<ArmName, { MBs: number; cps: number; cpuPerMB: number; cpuPerConn: number; clientPerConn: number; wait: number }>();
      for (const n of order) {
        const a = target[n];
        const b = await measured(`send ${a.host} ${a.bulk} ${opts.bulkMB * 1024 * 1024}`);
        row.set(n, { MBs: b.bytes / 1e6 / (b.ns / 1e9), cpuPerMB: (b.cpuNs + b.serverNs) / 1e3 / (b.bytes / 1e6), wait: b.waitNs / b.ns / 2, cps: 0, cpuPerConn: 0, clientPerConn: 0 });
      }
      for (const n of order) {
        const a = target[n];
        const c = await measured(`conn ${a.host} ${a.short} ${opts.conns} ${opts.conc}`);
        const x = row.get(n)!;
        x.cps = c.conns / (c.ns / 1e9);
        x.cpuPerConn = (c.cpuNs + c.serverNs) / 1e3 / c.conns;
        x.clientPerConn = c.cpuNs / 1e3 / c.conns;
        x.wait += c.waitNs / c.ns / 2;
      }
      const f = (key: 'MBs' | 'cps' | 'cpuPerMB' | 'cpuPerConn' | 'wait', d = 0) => names.map((n) => (key === 'wait' ? row.get(n)![key] * 100 : row.get(n)![key]).toFixed(d)).join('/');
      log(`    ${r < 0 ? 'warm-up' : `round ${r + 1}`} (${order.join(',')}): ${names.join('/')} MB/s ${f('MBs')}; conn/s ${f('cps')}; CPU µs/MB ${f('cpuPerMB')}; µs/conn ${f('cpuPerConn', 1)}; waited ${f('wait')} %`);
      if (r < 0) continue;
      for (const n of names) {
        const s = tp.arms[n]!;
        const x = row.get(n)!;
        s.MBs.push(x.MBs); s.cps.push(x.cps); s.cpuPerMB.push(x.cpuPerMB); s.cpuPerConn.push(x.cpuPerConn); s.clientPerConn.push(x.clientPerConn); s.wait.push(x.wait);
      }
    }
    tp.loadAfter = load();
    try { tp.conntrackCount = execFileSync('ip', ['netns', 'exec', nodeNs, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count']).toString().trim(); } catch { /* no conntrack */ }
    // Evidence for "no masquerade where kube-proxy would not": one VIP connection's conntrack
    // entry (reply tuple's destination = the original source: DNAT only, no SNAT).
    try {
      const line = execFileSync('ip', ['netns', 'exec', nodeNs, 'conntrack', '-L', '-p', 'tcp', '--orig-dst', sinkClusterIP], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 }).toString().split('\n')[0] ?? '';
      const m = /src=(\S+) dst=(\S+) sport=\d+ dport=\d+ .*src=(\S+) dst=(\S+) sport/.exec(line);
      if (m) tp.natEvidence = `a VIP connection's conntrack entry: original ${m[1]} → ${m[2]}, reply ${m[3]} → ${m[4]} (${m[4] === m[1] ? 'DNAT only, no SNAT/masquerade' : 'SOURCE NAT applied'})`;
    } catch { /* conntrack tool missing */ }
    if (opts.perf) await perfProfiles(client, [client.child.pid!, sink.pid!], names.map((n) => [n, target[n]]));
    return tp;
  } finally {
    client.close();
    children.delete(client.child);
    sink.kill('SIGKILL');
    children.delete(sink);
    built.cleanup();
    if (opts.floor) try { execFileSync('nsenter', [`--net=/run/netns/${nodeNs}`, 'nft', 'delete', 'table', 'ip', 'bench-floor']); } catch { /* namespace gone */ }
  }
}

/** `--perf DIR`: one longer connection run per arm under `perf record` of the client and the server (DIR/conn-ARM.data; `perf report -i`). */
async function perfProfiles(client: NetloadClient, pids: number[], arms: [ArmName, { host: string; short: number }][]): Promise<void> {
  for (const [n, a] of arms) {
    const file = join(opts.perf!, `conn-${n}.data`);
    const rec = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-g', '-p', pids.join(','), '-o', file], { stdio: 'ignore' });
    children.add(rec);
    await sleep(500);
    const r = await client.run(`conn ${a.host} ${a.short} ${opts.perfConns} ${opts.conc}`);
    rec.kill('SIGINT');
    await new Promise((res) => rec.once('exit', res));
    children.delete(rec);
    log(`    perf: ${file} (${r.conns} connections to ${a.host}:${a.short})`);
  }
}

/** `--dataplane-only`: part 4 alone, on rules rendered and applied directly (no API server, no proxy loop). */
async function dataplaneOnly(): Promise<ThroughputResult> {
  const { buildSnapshot } = await import('../src/proxy/snapshot.js');
  const n = opts.latencyServices;
  const { nodeNs, podNs, clientNs } = makeTopology();
  try {
    const services = [...Array.from({ length: n }, (_, i) => service(i)), sinkService()];
    const slices = [...Array.from({ length: n }, (_, i) => endpointSlice(i, opts.endpoints)), sinkSlice()];
    const snap = buildSnapshot({ services, slices, nodeName, nodeIPs: [nodeIP] });
    if (opts.dataplaneMode === 'nftables') {
      const { renderNftables } = await import('../src/proxy/nftables/render.js');
      const { NftApplier } = await import('../src/proxy/runtime/apply.js');
      await new NftApplier({ netns: nodeNs }).apply({ kind: 'nftables', script: renderNftables(snap, { ...renderOpts, family: 'IPv4' }).script });
    } else {
      const { renderIptables } = await import('../src/proxy/iptables/render.js');
      const { IptablesApplier } = await import('../src/proxy/runtime/apply.js');
      const rs = renderIptables(snap, { ...renderOpts, family: 'IPv4' });
      await new IptablesApplier({ netns: nodeNs }).apply({ kind: 'iptables', family: 'IPv4', restore: rs.restore, jumps: rs.jumps });
    }
    log(`[4] ${opts.dataplaneMode} rules for ${n + 1} services applied in ${nodeNs}`);
    return await dataplane(nodeNs, podNs, clientNs, opts.dataplaneMode, n + 1);
  } finally {
    delNs(podNs);
    delNs(nodeNs);
  }
}

async function latencyAndThroughput(): Promise<{ lats: LatencyResult[]; tp: ThroughputResult }> {
  const { startApiServer } = await import('../src/apiserver/index.js');
  const { HttpClient } = await import('../src/client/http.js');
  const { loadKubeconfig } = await import('../src/client/kubeconfig.js');
  const { findResource } = await import('../src/api/resources.js');
  const { setLogLevel } = await import('../src/log.js');
  const { startProxy } = await import('../src/proxy/runtime/proxy.js');
  setLogLevel('error');

  const R = {
    services: findResource('', 'v1', 'services')!,
    slices: findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
    nodes: findResource('', 'v1', 'nodes')!,
  };
  const n = opts.latencyServices;

  const { nodeNs, podNs, clientNs } = makeTopology();

  const dir = mkdtempSync(join(tmpdir(), 'svcnet-pbench-'));
  const api = await startApiServer({
    listenHost: '127.0.0.1', listenPort: 0, storage: 'memory', dataDir: dir,
    serviceClusterIPRange: serviceCIDR, serviceNodePortRange: '30000-32767',
  });
  const client = new HttpClient(loadKubeconfig(api.kubeconfigPath!));
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    await client.create(R.nodes, undefined, {
      apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName },
      status: { addresses: [{ type: 'InternalIP', address: nodeIP }] },
    });
    log(`[3] creating ${n} services + ${n} EndpointSlices (${n * opts.endpoints} endpoints) through the API`);
    const current: (EndpointSlice & KObject)[] = new Array(n);
    let next = 0;
    const t0 = now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        for (let attempt = 0; ; attempt++) {
          try {
            await client.create(R.services, NS, service(i) as never);
            break;
          } catch (e) {
            if (attempt >= 10 || !(e as Error).message.includes('too many conflicts')) throw e;
          }
        }
        current[i] = await client.create<EndpointSlice & KObject>(R.slices, NS, endpointSlice(i, opts.endpoints) as never);
      }
    }));
    log(`    created in ${ms(now() - t0)}`);
    // The sink for part 4: one more ClusterIP service in front of the real pod.
    await client.create(R.services, NS, sinkService() as never);
    await client.create(R.slices, NS, sinkSlice() as never);

    const lats: LatencyResult[] = [];
    let tp: ThroughputResult | undefined;
    const modes = opts.latencyModes.includes('nftables') ? opts.latencyModes : ['nftables' as const, ...opts.latencyModes];
    let flip = 0;
    for (const mode of modes) {
      const [p, startMs] = await timed(() => startProxy({
        client, nodeName, mode, netns: nodeNs, minSyncPeriodMs: 0, metricsAddress: '',
        clusterCIDR, serviceCIDRs: [serviceCIDR], nodeIPs: [nodeIP],
      }));
      proxy = p;
      const haveAll = () => (proxy!.snapshot()?.servicePorts.length ?? 0) >= n + 1;
      for (const end = now() + 60_000; !haveAll(); await sleep(5)) if (now() > end) throw new Error('proxy never saw every service');
      log(`    ${mode}: startProxy (list + first full sync of ${n + 1} services) ${ms(startMs)}`);

      // ------------------------------------------------------------ flips
      log(`[3] ${mode}: ${opts.flips} endpoint readiness flips`);
      collect();
      const m = proxy.metrics;
      const npc0 = m.networkProgrammingLatency.count();
      const nps0 = m.networkProgrammingLatency.sum();
      const sc0 = m.syncProxyRulesLatency.count();
      const ss0 = m.syncProxyRulesLatency.sum();
      const writeAck: number[] = [];
      const programmed: number[] = [];
      for (let k = 0; k < opts.flips; k++, flip++) {
        const i = (flip * 37) % n;
        const j = flip % opts.endpoints;
        const sl = structuredClone(current[i]!);
        const ep = sl.endpoints[j]!;
        const want = !(ep.conditions?.ready ?? true);
        ep.conditions = { ...ep.conditions, ready: want, serving: want };
        sl.metadata = { ...sl.metadata, annotations: { ...sl.metadata?.annotations, 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() } };
        const id = `${NS}/${svcName(i)}:http/TCP`;
        const epIP = podIP(i * opts.endpoints + j);
        const done = () => proxy!.snapshot()?.servicePorts.find((sp) => sp.id === id)?.endpoints.find((e) => e.ip === epIP)?.ready === want;
        const start = now();
        current[i] = await client.update<EndpointSlice & KObject>(R.slices, NS, sl as never);
        writeAck.push(now() - start);
        while (!done()) {
          if (now() - start > 10_000) throw new Error(`flip ${flip} never programmed`);
          await sleep(1);
        }
        programmed.push(now() - start);
        await sleep(10);
      }
      log(`    ${mode}: programmed p50 ${ms(pct(programmed, 50))}, p99 ${ms(pct(programmed, 99))}`);

      let anatomy: LatencyResult['anatomy'];
      if (mode === 'nftables') {
        // Where a sync's time goes at this size: the pure steps again, in-process, on the same objects.
        const { buildSnapshot } = await import('../src/proxy/snapshot.js');
        const { renderNftables } = await import('../src/proxy/nftables/render.js');
        const { NftApplier } = await import('../src/proxy/runtime/apply.js');
        const svcs = (await client.list<Service & KObject>(R.services, NS)).items;
        const sls = (await client.list<EndpointSlice & KObject>(R.slices, NS)).items;
        const a = { build: [] as number[], render: [] as number[], noop: [] as number[], session: [] as number[] };
        const applied = proxy.snapshot()!;
        const noop = new NftApplier({ netns: nodeNs, session: false });
        const session = new NftApplier({ netns: nodeNs });
        for (let k = 0; k < 5; k++) {
          const [sn, b] = await timed(() => buildSnapshot({ services: svcs, slices: sls, nodeName, nodeIPs: [nodeIP] }));
          const [, r] = await timed(() => renderNftables(sn, { ...renderOpts, family: 'IPv4', previous: applied }));
          const [, nm] = await timed(() => noop.apply({ kind: 'nftables', script: 'add table ip kube-proxy\n' }));
          const [, sm] = await timed(() => session.apply({ kind: 'nftables', script: 'add table ip kube-proxy\n' }));
          a.build.push(b); a.render.push(r); a.noop.push(nm); if (k > 0) a.session.push(sm);
        }
        await session.close();
        anatomy = { buildMs: median(a.build), renderMs: median(a.render), nftNoopMs: median(a.noop), sessionNoopMs: median(a.session) };
      }
      lats.push({
        mode, services: n, flips: opts.flips, startMs, writeAck, programmed,
        metricCount: m.networkProgrammingLatency.count() - npc0,
        metricMeanMs: ((m.networkProgrammingLatency.sum() - nps0) / Math.max(1, m.networkProgrammingLatency.count() - npc0)) * 1000,
        syncCount: m.syncProxyRulesLatency.count() - sc0,
        syncMeanMs: ((m.syncProxyRulesLatency.sum() - ss0) / Math.max(1, m.syncProxyRulesLatency.count() - sc0)) * 1000,
        ...(anatomy ? { anatomy } : {}),
      });
      if (mode === 'nftables' && !tp) tp = await dataplane(nodeNs, podNs, clientNs, 'nftables (proxy)', n + 1);
      await proxy.close();
      proxy = undefined;
    }
    return { lats, tp: tp! };
  } finally {
    await proxy?.close();
    client.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
    delNs(podNs);
    delNs(nodeNs);
  }
}

// ---------------------------------------------------------------- report

function report(full: Awaited<ReturnType<typeof fullAndChange>>, lt: { lats: LatencyResult[]; tp: ThroughputResult }): void {
  const out = (s = '') => console.log(s);
  if (full.rows.length) {
    out(`### 1. Full sync (synthetic Services × ${opts.endpoints} endpoints, ClusterIP, 1 in 4 also NodePort; applied into a fresh netns)`);
    out();
    out('| services | endpoints | backend | buildSnapshot | render | kernel apply | jumps re-check (later full syncs) | **total** | re-apply over populated table | input |');
    out('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of full.rows) {
      const apply = r.error ? (r.error.startsWith('skipped') ? r.error : `failed: ${r.error}`) : ms(r.applyMs);
      const total = r.error ? '—' : ms(r.buildMs + r.renderMs + r.applyMs);
      const render = Number.isNaN(r.renderMs) ? '—' : ms(r.renderMs);
      const input = r.lines ? `${r.lines} lines, ${r.mb.toFixed(1)} MB` : '';
      const re = r.reapplyMs !== undefined ? ms(r.reapplyMs) : r.reapplyNote ?? '';
      out(`| ${r.services} | ${r.endpoints} | ${r.backend} | ${ms(r.buildMs)} | ${render} | ${apply} | ${r.jumpsMs !== undefined ? ms(r.jumpsMs) : ''} | **${total}** | ${re} | ${input} |`);
    }
    out();
    out('kernel apply: `nft -f` / `iptables-restore --noflush` (iptables: listing the built-in chains, and the missing jumps inserted by the same restore), each run with `nsenter --net`. Total = buildSnapshot + render + apply. Goal: < 10 s at 10k services (100k endpoints).');
    out();
  }
  if (full.changes.length) {
    const n0 = full.changes[0]!.buildMs.length;
    const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);
    out(`### 2. One-service change at ${full.changeServices} services (one endpoint of one service replaced; median / max of ${n0})`);
    out();
    out('| backend | snapshot update (the changed service) | render with `previous` + state | kernel apply | **render + apply** | update + render + apply (one sync) | lines written |');
    out('|---|---|---|---|---|---|---|');
    for (const c of full.changes) {
      const ra = sum(c.renderMs, c.applyMs);
      const bra = sum(ra, c.buildMs);
      const mm = (xs: number[]) => `${ms(median(xs))} / ${ms(Math.max(...xs))}`;
      out(`| ${c.backend} | ${mm(c.buildMs)} | ${mm(c.renderMs)} | ${mm(c.applyMs)} | **${mm(ra)}** | ${mm(bra)} | ${median(c.lines)} |`);
    }
    out();
    out('Goal: < 50 ms. The snapshot update is what the sync loop does per sync (SnapshotCache: only the service an event names is rebuilt), so the last time column is what one sync costs.');
    out();
  }
  const l0 = lt.lats[0]!;
  out(`### 3. Network programming latency (${l0.services} services × ${opts.endpoints} endpoints, real API server over HTTPS, minSyncPeriod 0, ${l0.flips} readiness flips per mode, one at a time)`);
  out();
  out('| mode | measure | p50 | p90 | p99 | max |');
  out('|---|---|---|---|---|---|');
  const lrow = (mode: string, name: string, xs: number[]) => out(`| ${mode} | ${name} | ${ms(pct(xs, 50))} | ${ms(pct(xs, 90))} | ${ms(pct(xs, 99))} | ${ms(Math.max(...xs))} |`);
  for (const l of lt.lats) {
    lrow(l.mode, 'EndpointSlice update acknowledged', l.writeAck);
    lrow(l.mode, '**write → rules in the kernel** (proxy\'s applied snapshot holds the change)', l.programmed);
  }
  out();
  for (const l of lt.lats) {
    out(`${l.mode}: proxy's own metrics over the flips: kubeproxy_network_programming_duration_seconds ${l.metricCount} observations, mean ${ms(l.metricMeanMs)} (from the slice's last-change-trigger-time annotation, ms precision); ${l.syncCount} syncs, mean sync ${ms(l.syncMeanMs)}. startProxy with ${l.services + 1} services (list + first full sync): ${ms(l.startMs)}.`);
    out();
    const an = l.anatomy;
    if (an) {
      out(`For scale, in-process (median of 5): a whole buildSnapshot from every object ${ms(an.buildMs)} and a renderNftables with \`previous\` but no renderer state (both O(all); the proxy's sync loop does neither: it rebuilds only the services the events name and renders with the state it kept) ${ms(an.renderMs)}; a no-op transaction (\`add table\`) in the node namespace: through \`nsenter … nft -f -\` ${ms(an.nftNoopMs)}, through the proxy's long-lived \`nft -i\` ${ms(an.sessionNoopMs)}.`);
      out();
    }
  }
  out('Goal: p99 < 100 ms.');
  out();
  reportDataplane(lt.tp);
}

function reportDataplane(t: ThroughputResult): void {
  const out = (s = '') => console.log(s);
  const vip = t.arms.vip!;
  const pod = t.arms.pod!;
  const floor = t.arms.floor;
  const arms = [vip, pod, ...(floor ? [floor] : [])];
  out(`### 4. Data plane, ${t.from === 'pod' ? 'pod → node → pod over veths (a pod → Service connection)' : 'node namespace → pod over a veth'}: VIP ÷ direct (${t.mode} DNAT, ${t.services} services loaded)`);
  out();
  out(`netload (C) client pinned to CPU ${t.cpus[0]}, server to CPU ${t.cpus[1]}${t.rt ? ', both SCHED_FIFO' : ''}, the same for every arm; ${vip.MBs.length} rounds after ${opts.warmup} warm-up, each every arm back to back (order rotating), ` +
    `${opts.bulkMB} MB over one connection and ${opts.conns} request/answer connections (${opts.conc} at a time) per arm; paired per-round ratios: median, 95 % bootstrap CI of the median, IQR. Load average ${t.loadBefore} → ${t.loadAfter}.`);
  out();
  out(`| measure | ${arms.map((a) => `${a.label} (median)`).join(' | ')} | **VIP ÷ direct** (paired: median, 95% CI, IQR) |${floor ? ' VIP ÷ bare DNAT (paired) |' : ''}`);
  out(`|---|${arms.map(() => '---|').join('')}---|${floor ? '---|' : ''}`);
  type Key = 'MBs' | 'cps' | 'cpuPerMB' | 'cpuPerConn' | 'clientPerConn';
  // Rates: VIP ÷ other; CPU per unit: other ÷ VIP, so that ≥ 1 always means the VIP costs no more.
  const row = (name: string, k: Key, d: number, cpu: boolean) => {
    const r = (o: ArmSeries) => fmtPaired(cpu ? paired(o[k], vip[k]) : paired(vip[k], o[k]));
    out(`| ${name} | ${arms.map((a) => median(a[k]).toFixed(d)).join(' | ')} | ${r(pod)} |${floor ? ` ${r(floor)} |` : ''}`);
  };
  row('bulk TCP, MB/s', 'MBs', 0, false);
  row('connections/s', 'cps', 0, false);
  row('client + server CPU µs per MB (ratio: other ÷ VIP)', 'cpuPerMB', 1, true);
  row('client + server CPU µs per connection (other ÷ VIP)', 'cpuPerConn', 1, true);
  row('client CPU µs per connection (other ÷ VIP; the DNAT happens here)', 'clientPerConn', 1, true);
  out();
  out(`Run-queue wait of client + server (others on their CPUs) ÷ wall time, median: ${arms.map((a) => `${a.label} ${(median(a.wait) * 100).toFixed(1)} %`).join(', ')}. ` +
    `Connection errors ${t.errors}; conntrack entries in the node namespace at the end ${t.conntrackCount || '?'}${t.natEvidence ? `; ${t.natEvidence}` : ''}. CPU: the client's own (CLOCK_PROCESS_CPUTIME_ID) plus every thread of the server (/proc/PID/task/*/schedstat); the kernel's work in their context is included, softirq work done by ksoftirqd is not.`);
  out();
  const bulk = paired(vip.MBs, pod.MBs);
  const conn = paired(vip.cps, pod.cps);
  const cpuMB = paired(pod.cpuPerMB, vip.cpuPerMB);
  const cpuConn = paired(pod.cpuPerConn, vip.cpuPerConn);
  const iv = (p: Paired) => `${p.median.toFixed(3)} [${p.ci[0].toFixed(3)}, ${p.ci[1].toFixed(3)}]`;
  out(`VERDICT (a) VIP ÷ direct ≥ 0.95 [${t.mode}]: throughput ${iv(bulk)} ${verdict(bulk, 0.95)}; conn/s ${iv(conn)} ${verdict(conn, 0.95)}; ` +
    `CPU direct÷VIP per MB ${iv(cpuMB)}, per conn ${iv(cpuConn)}` +
    (floor ? `; VIP ÷ bare DNAT conn/s ${iv(paired(vip.cps, floor.cps))}` : '') + ` (95% CIs; load ${t.loadAfter})`);
}

// ---------------------------------------------------------------- main

async function inside(): Promise<void> {
  const t0 = now();
  if (opts.dataplaneOnly) {
    log(`proxy bench, data plane only (${opts.dataplaneMode}, ${opts.latencyServices} services)`);
    reportDataplane(await dataplaneOnly());
    log(`done in ${ms(now() - t0)}`);
    return;
  }
  log(`proxy bench${quick ? ' (--quick)' : ''}: sizes ${opts.sizes.join(', ')}; latency at ${opts.latencyServices} services, ${opts.flips} flips`);
  const full = opts.skipFull ? { rows: [], changes: [], changeServices: 0 } : await fullAndChange();
  const lt = await latencyAndThroughput();
  report(full, lt);
  log(`done in ${ms(now() - t0)}`);
}

if (process.env[SANDBOX_ENV] === '1') {
  inside().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else {
  const path = process.env['PATH'] ?? '';
  const missing = ['nft', 'iptables-restore', 'iptables-save', 'iptables'].filter((b) => !findExecutable(b, `${path}:/usr/sbin:/sbin`));
  const why = sandboxUnsupported() ?? (missing.length ? `missing ${missing.join(', ')}` : undefined);
  if (why) {
    console.log(`proxy bench skipped: it needs real network namespaces and kernel rules (${why}).`);
    process.exit(0);
  }
  // --expose-gc: the garbage of one part is collected before the next is timed (collect()).
  runInSandbox([process.execPath, ...process.execArgv, '--expose-gc', self, ...process.argv.slice(2)], { timeoutMs: 900_000 }).then((r) => process.exit(r.code));
}
