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
// 4. Data plane: bulk MB/s and connections/s from the node namespace to a
//    ClusterIP (DNAT by the proxy's nftables rules, 1k other services loaded) vs to
//    the pod IP directly, interleaved in the same run, as ratios; and the CPU time
//    the client and the server processes spent per connection and per MB (their
//    threads' run time from /proc, which includes the kernel's work done on their
//    behalf), a measure less sensitive to other jobs on the machine than rates.
//
//   npx tsc -p tsconfig.json --outDir .build/pbench && node .build/pbench/bench/proxy.js \
//     [--quick] [--sizes 1000,10000] [--changes 5] [--changes-large 3] [--latency-services 1000] [--flips 100]
//     [--seconds 1.5] [--rounds 8] [--nft-timeout 600] [--ipt-timeout 60] [--reapply-max 20] [--no-legacy] [--skip-full]
//     [--ipt-nft-max 2000] [--latency-modes nftables,iptables]
//
// iptables is measured with the system's binaries (iptables-nft on Debian) and with
// iptables-legacy; iptables-nft only up to --ipt-nft-max services (1.8.9 is quadratic
// in the number of chains: 10k services would take hours). An apply that outlives its
// timeout is killed and reported as failed. `--quick`: 100 and 1000 services, 200 for
// the latency, 1 s throughput runs.
//
// Tables on stdout, progress on stderr. Needs root, `ip`, `nft`, `iptables-restore`.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import { findExecutable } from '../src/node/runtime.js';
import type { KObject } from '../src/client/types.js';

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
  seconds: argNum('seconds', quick ? 1 : 1.5),
  rounds: argNum('rounds', quick ? 3 : 8),
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

const sinkSource = `
  const net = require('net');
  net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d) => { n += d.length; });
    s.on('end', () => s.end(String(n)));
    s.on('error', () => {});
  }).listen(8080, '0.0.0.0', () => console.log('ready'));`;

// bulk: one connection writing for DURATION, then the sink answers with the byte count.
// conn: CONC loops of connect, half-close, read the answer, until DURATION.
const clientSource = `
  const net = require('net');
  const [mode, host, port, dur, conc] = process.argv.slice(1);
  if (mode === 'bulk') {
    const buf = Buffer.alloc(256 * 1024, 120);
    const s = net.connect({ host, port: +port });
    let t0, reply = '';
    let c0;
    s.on('connect', () => {
      t0 = process.hrtime.bigint();
      c0 = process.cpuUsage();
      const end = Date.now() + +dur;
      const pump = () => {
        while (Date.now() < end) if (!s.write(buf)) { s.once('drain', pump); return; }
        s.end();
      };
      pump();
    });
    s.on('data', (d) => { reply += d; });
    s.on('end', () => {
      const c = process.cpuUsage(c0);
      console.log(JSON.stringify({ bytes: +reply, secs: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: c.user + c.system }));
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });
  } else {
    let n = 0, errors = 0;
    const end = Date.now() + +dur;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const loop = () => new Promise((res) => {
      const one = () => {
        if (Date.now() >= end) return res();
        const s = net.connect({ host, port: +port });
        let done = false;
        const next = (ok) => { if (done) return; done = true; ok ? n++ : errors++; s.destroy(); setImmediate(one); };
        s.on('connect', () => s.end());
        s.on('data', () => {});
        s.on('end', () => next(true));
        s.on('error', () => next(false));
      };
      one();
    });
    Promise.all(Array.from({ length: +conc }, loop)).then(() => {
      const c = process.cpuUsage(c0);
      console.log(JSON.stringify({ conns: n, errors, secs: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: c.user + c.system }));
    });
  }`;

function runClient(ns: string, args: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', clientSource, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('close', (code) => {
      children.delete(c);
      if (code !== 0) reject(new Error(`client ${args.join(' ')} exited ${code}: ${err.trim()}`));
      else resolve(JSON.parse(out) as Record<string, number>);
    });
  });
}

interface LatencyResult {
  mode: 'nftables' | 'iptables';
  services: number; flips: number; startMs: number;
  writeAck: number[]; programmed: number[];
  metricCount: number; metricMeanMs: number; syncCount: number; syncMeanMs: number;
  /** nftables: the pure steps of one sync at this size, timed in-process (median of 3), and a no-op `nft -f`. */
  anatomy?: { buildMs: number; renderMs: number; nftNoopMs: number; sessionNoopMs: number };
}

interface ThroughputResult {
  vipMBs: number[]; podMBs: number[]; vipCps: number[]; podCps: number[];
  /** Client + server CPU time (µs) per MB (bulk) and per connection (conn), per round. */
  vipCpuPerMB: number[]; podCpuPerMB: number[]; vipCpuPerConn: number[]; podCpuPerConn: number[];
  errors: number;
}

/** CPU time (ns) every thread of a process has run so far (the schedstat of each of its tasks: ns, not ticks). */
function processCpuNs(pid: number): number {
  let total = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try { total += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return total;
}

async function throughput(nodeNs: string, podNs: string): Promise<ThroughputResult> {
  log(`[4] throughput via ${sinkClusterIP}:80 vs ${sinkPodIP}:8080 (${opts.rounds} rounds × ${opts.seconds} s each)`);
  // `ip netns exec` execs the command: the child's pid is the server's.
  const sink = spawn('ip', ['netns', 'exec', podNs, process.execPath, '-e', sinkSource], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(sink);
  try {
    await new Promise<void>((resolve, reject) => {
      sink.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve(); });
      sink.on('exit', (code) => reject(new Error(`sink exited ${code}`)));
    });
    const tp: ThroughputResult = { vipMBs: [], podMBs: [], vipCps: [], podCps: [], vipCpuPerMB: [], podCpuPerMB: [], vipCpuPerConn: [], podCpuPerConn: [], errors: 0 };
    const dur = String(opts.seconds * 1000);
    const vip = [sinkClusterIP, '80'];
    const pod = [sinkPodIP, '8080'];
    /** One client run, with the CPU the client (its own measure, from its first connection) and the server spent. */
    const measured = async (args: string[]): Promise<Record<string, number>> => {
      const s0 = processCpuNs(sink.pid!);
      const r = await runClient(nodeNs, args);
      const serverUs = (processCpuNs(sink.pid!) - s0) / 1000;
      return { ...r, cpuUs: r['cpuUs']! + serverUs };
    };
    // Warm-up (and a check that the VIP answers at all).
    collect();
    await runClient(nodeNs, ['conn', ...vip, '300', '1']);
    await runClient(nodeNs, ['conn', ...pod, '300', '1']);
    for (let r = 0; r < opts.rounds; r++) {
      // Alternate which target goes first, so drift in the machine's load hits both alike.
      const order: [string[], 'vip' | 'pod'][] = r % 2 === 0 ? [[vip, 'vip'], [pod, 'pod']] : [[pod, 'pod'], [vip, 'vip']];
      for (const [target, which] of order) {
        const b = await measured(['bulk', ...target, dur]);
        (which === 'vip' ? tp.vipMBs : tp.podMBs).push(b['bytes']! / 1e6 / b['secs']!);
        (which === 'vip' ? tp.vipCpuPerMB : tp.podCpuPerMB).push(b['cpuUs']! / (b['bytes']! / 1e6));
      }
      for (const [target, which] of order) {
        const c = await measured(['conn', ...target, dur, '8']);
        (which === 'vip' ? tp.vipCps : tp.podCps).push(c['conns']! / c['secs']!);
        (which === 'vip' ? tp.vipCpuPerConn : tp.podCpuPerConn).push(c['cpuUs']! / c['conns']!);
        tp.errors += c['errors']!;
      }
      log(`    round ${r + 1}: MB/s vip ${tp.vipMBs[r]!.toFixed(0)} pod ${tp.podMBs[r]!.toFixed(0)}; conn/s vip ${tp.vipCps[r]!.toFixed(0)} pod ${tp.podCps[r]!.toFixed(0)}; ` +
        `CPU µs/conn vip ${tp.vipCpuPerConn[r]!.toFixed(1)} pod ${tp.podCpuPerConn[r]!.toFixed(1)}`);
    }
    return tp;
  } finally {
    sink.kill('SIGKILL');
    children.delete(sink);
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

  // Topology: node namespace (lo 192.168.0.10, veth to the pod), pod namespace (10.244.1.2).
  const nodeNs = 'pb-node';
  const podNs = 'pb-pod';
  addNs(nodeNs);
  addNs(podNs);
  ip('-n', nodeNs, 'addr', 'add', `${nodeIP}/32`, 'dev', 'lo');
  ip('link', 'add', 'veth-pb', 'netns', nodeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs);
  ip('-n', nodeNs, 'addr', 'add', '10.244.1.1/24', 'dev', 'veth-pb');
  ip('-n', nodeNs, 'link', 'set', 'veth-pb', 'up');
  ip('-n', podNs, 'addr', 'add', `${sinkPodIP}/24`, 'dev', 'eth0');
  ip('-n', podNs, 'link', 'set', 'eth0', 'up');
  ip('-n', podNs, 'route', 'add', 'default', 'via', '10.244.1.1');
  // Output routing happens before DNAT: the node needs a route for the service range.
  ip('-n', nodeNs, 'route', 'add', serviceCIDR, 'dev', 'veth-pb');
  inNs(nodeNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1');
  inNs(podNs, 'sysctl', '-qw', 'net.core.somaxconn=4096');

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
    await client.create(R.services, NS, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'sink', namespace: NS },
      spec: { clusterIP: sinkClusterIP, ports: [{ name: 'tcp', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    } as never);
    await client.create(R.slices, NS, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'sink-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'sink' } },
      addressType: 'IPv4', ports: [{ name: 'tcp', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: [sinkPodIP], conditions: { ready: true }, nodeName }],
    } as never);

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
      if (mode === 'nftables' && !tp) tp = await throughput(nodeNs, podNs);
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
  const t = lt.tp;
  const mv = median(t.vipMBs);
  const mp = median(t.podMBs);
  const cv = median(t.vipCps);
  const cp = median(t.podCps);
  out(`### 4. Data plane, node namespace → pod over a veth (nftables DNAT, ${l0.services + 1} services loaded; median of ${t.vipMBs.length} rounds × ${opts.seconds} s, interleaved)`);
  out();
  const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!)).toFixed(3);
  out('| measure | via ClusterIP | direct to pod IP | VIP ÷ direct (ratio of medians) | median of per-round ratios |');
  out('|---|---|---|---|---|');
  out(`| bulk TCP, 1 connection (MB/s) | ${mv.toFixed(0)} | ${mp.toFixed(0)} | **${(mv / mp).toFixed(3)}** | ${paired(t.vipMBs, t.podMBs)} |`);
  out(`| short connections/s (8 concurrent: connect, half-close, answer) | ${cv.toFixed(0)} | ${cp.toFixed(0)} | **${(cv / cp).toFixed(3)}** | ${paired(t.vipCps, t.podCps)} |`);
  // CPU per unit: direct ÷ VIP, so that ≥ 1 means the VIP costs no more (what bounds the rate on a busy machine).
  const cpuRow = (name: string, v: number[], p: number[], digits: number) =>
    out(`| ${name} | ${median(v).toFixed(digits)} | ${median(p).toFixed(digits)} | **${(median(p) / median(v)).toFixed(3)}** (direct ÷ VIP) | ${paired(p, v)} |`);
  cpuRow('client + server CPU µs per MB (bulk)', t.vipCpuPerMB, t.podCpuPerMB, 0);
  cpuRow('client + server CPU µs per connection', t.vipCpuPerConn, t.podCpuPerConn, 1);
  out();
  out(`Per round MB/s VIP ${t.vipMBs.map((x) => x.toFixed(0)).join(', ')} / pod ${t.podMBs.map((x) => x.toFixed(0)).join(', ')}; conn/s VIP ${t.vipCps.map((x) => x.toFixed(0)).join(', ')} / pod ${t.podCps.map((x) => x.toFixed(0)).join(', ')}; CPU µs/conn VIP ${t.vipCpuPerConn.map((x) => x.toFixed(1)).join(', ')} / pod ${t.podCpuPerConn.map((x) => x.toFixed(1)).join(', ')}; connection errors ${t.errors}. CPU: the client's own (from its first connection) plus every thread of the server, from /proc/PID/task/*/schedstat (the kernel's work in their context included; softirq work done by ksoftirqd is not). Goal: ratio ≥ 0.95.`);
}

// ---------------------------------------------------------------- main

async function inside(): Promise<void> {
  const t0 = now();
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
