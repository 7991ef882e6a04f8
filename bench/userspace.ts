// Userspace data plane benchmark: bulk TCP throughput (MB/s) and short connections per
// second through the svcnet userspace proxy, against HAProxy from Debian (`haproxy`,
// one thread, mode tcp) on the same path and against no proxy at all, in one run.
//
//   npx tsc -p tsconfig.json --outDir .build/pbench && node .build/pbench/bench/userspace.js
//     [--rounds 30] [--warmup 2] [--mb 64] [--streams 4] [--conns 1000] [--concurrency 32] [--gap-ms 30]
//     [--haproxy-bufsize 524288 (0: no second HAProxy row)] [--compare-module other/proxier.js --compare-name before]
//     [--only bulk|conn] [--no-rt] [--profile DIR (node --cpu-prof of the svcnet proxy)]
//
// Design (so that the ratio is the proxies' and not the machine's noise):
// - Load generator and backend are netload (C, bench/netload.c, built here with cc): the
//   same for every target, and far from saturating their CPU.
// - CPUs: the proxy under test (svcnet or HAProxy) on one CPU, the load generator and
//   the backend on the other; every process SCHED_FIFO (chrt -f 50; --no-rt to turn it
//   off) so that other jobs on a shared machine do not preempt them. Identical for
//   every target. (HAProxy `nbthread 1`: svcnet relays on one event loop.)
// - Many short rounds; each round measures every target back to back, with the same
//   work (--mb MB over --streams connections, backend → client; then --conns
//   request/answer connections, --concurrency at a time), the order rotating from round
//   to round; warm-up rounds dropped; a run starts only when the previous proxy has
//   gone quiet (its post-run work is counted in its CPU, not in the next target's run).
//   Ratios are paired per round: median, 95 % bootstrap CI of the median, IQR. Prints a
//   VERDICT line.
// - CPU time (schedstat of every thread, ns) of the proxy, and of proxy + backend + load
//   generator, per GB and per connection: the second measure, less sensitive to
//   contention than rates.
// - Inside a private network namespace (root): loopback only, no port in use by anyone
//   else; 127.97.0.x are the service addresses (all of 127/8 is local).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import {
  allowedCpus, buildNetload, fmtPaired, load, median, NetloadClient, paired, pin, processSched, rtAvailable, startReady, verdict, type Paired,
} from './dataplane.js';

/** TCP counters of this network namespace (/proc/net/snmp Tcp, /proc/net/netstat TcpExt), by name. */
function tcpCounters(): Map<string, number> {
  const m = new Map<string, number>();
  for (const [file, prefix] of [['/proc/net/snmp', 'Tcp:'], ['/proc/net/netstat', 'TcpExt:']] as const) {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(prefix));
    const names = lines[0]!.split(/\s+/).slice(1);
    const values = lines[1]!.split(/\s+/).slice(1);
    names.forEach((n, i) => m.set(n, Number(values[i])));
  }
  return m;
}
/** Counters that tell of trouble on the path: drops, timeouts; on loopback most retransmissions are tail-loss probes or host-queue spurious ones (no loss). */
const troubleCounters = ['RetransSegs', 'TCPLostRetransmit', 'TCPTimeouts', 'TCPBacklogDrop', 'TCPRcvQDrop', 'PruneCalled', 'RcvPruned', 'TCPOFODrop', 'TCPZeroWindowDrop', 'TCPMemoryPressures', 'ListenDrops', 'ListenOverflows', 'TCPAbortOnData', 'TCPSpuriousRTOs', 'TCPLossProbes', 'TCPSpuriousRtxHostQueues'];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const self = fileURLToPath(import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the svcnet proxy process

async function proxyRole(vip: string, bulkPort: number, shortPort: number, module?: string): Promise<void> {
  const { buildSnapshot } = await import('../src/proxy/snapshot.js');
  const { UserspaceProxy } = (module ? await import(pathToFileURL(resolvePath(module)).href) : await import('../src/proxy/userspace/proxier.js')) as typeof import('../src/proxy/userspace/proxier.js');
  const mk = (name: string, port: number, target: number) => ({
    svc: { metadata: { name, namespace: 'bench' }, spec: { clusterIP: vip, clusterIPs: [vip], ports: [{ name: 'p', port, targetPort: target }] } },
    slice: {
      metadata: { name: `${name}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'p', port: target, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    },
  });
  const a = mk('bulk', 9001, bulkPort);
  const b = mk('short', 9002, shortPort);
  const snapshot = buildSnapshot({ services: [a.svc, b.svc], slices: [a.slice, b.slice], nodeName: 'bench', nodeIPs: ['127.0.0.1'] });
  const proxy = new UserspaceProxy({});
  const r = await proxy.apply(snapshot);
  if (r.failed.length) throw new Error(`bind failed: ${JSON.stringify(r.failed)}`);
  // A clean exit on SIGTERM, so `--profile` (node --cpu-prof) gets its profile written.
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write('ready 9001 9002\n');
}

// ------------------------------------------------------------------ HAProxy

function haproxyVersion(): string | undefined {
  const r = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1];
}

async function waitListening(host: string, port: number, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect({ host, port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`${what} did not start`);
}

/**
 * HAProxy in TCP mode, one thread, `-db` so it stays in the foreground (its pid is the
 * one doing the work). `bufsize` undefined: the package's defaults (tune.bufsize 16384,
 * no splicing), i.e. HAProxy from Debian as installed; otherwise tune.bufsize, e.g. the
 * size of svcnet's bulk buffers.
 */
async function startHaproxy(dir: string, host: string, backend: [number, number], prefix: string[], bufsize?: number): Promise<ChildProcess> {
  const cfg = join(dir, `haproxy-${host}.cfg`);
  writeFileSync(cfg, `global
  nbthread 1
  maxconn 4000
${bufsize ? `  tune.bufsize ${bufsize}\n` : ''}defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bulk
  bind ${host}:9001
  default_backend bulk
backend bulk
  server b1 127.0.0.1:${backend[0]}
frontend short
  bind ${host}:9002
  default_backend short
backend short
  server s1 127.0.0.1:${backend[1]}
`);
  const argv = [...prefix, 'haproxy', '-db', '-f', cfg];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitListening(host, 9002, 'haproxy');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return child;
}

// ------------------------------------------------------------------ main

interface Target {
  name: string;
  /** Short name for the per-round lines. */
  tag: string;
  host: string;
  /** The proxy's process (none for direct). */
  pid?: number;
  /** The backend ports this target's traffic ends at (each target has its own). */
  backend: [number, number];
  /** Ports the load generator connects to. */
  bulk: number; short: number;
}

interface Series { mbps: number[]; cps: number[]; proxyMsPerGB: number[]; allMsPerGB: number[]; proxyUsPerConn: number[]; allUsPerConn: number[]; wait: number[] }

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'proxy') return proxyRole(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), process.argv[6]);

  const mb = arg('mb', 64);
  const streams = arg('streams', 4);
  const conns = arg('conns', 1000);
  const concurrency = arg('concurrency', 32);
  const rounds = arg('rounds', 30);
  const warmup = arg('warmup', 2);
  const gapMs = arg('gap-ms', 30);
  const only = strArg('only'); // 'bulk' | 'conn': one half of the benchmark (profiling)
  // HAProxy's tune.bufsize for a second HAProxy row (0: none); default, the size of
  // svcnet's bulk buffers, so that buffer size is not what the comparison measures.
  const matchedBufsize = arg('haproxy-bufsize', 512 * 1024);
  // Another build of the userspace proxier (its proxier.js), as an extra row named
  // --compare-name: before/after in one run.
  const compareModule = strArg('compare-module');
  const profile = strArg('profile');

  const built = buildNetload(self);
  if ('error' in built) {
    console.log(`userspace bench skipped: ${built.error}`);
    return;
  }
  const cpuList = allowedCpus();
  const loadCpu = cpuList[0]!;
  const proxyCpu = cpuList[1] ?? cpuList[0]!;
  const rt = !process.argv.includes('--no-rt') && rtAvailable();
  // A proxy's main thread only (chrt -p: the threads it already has keep their policy):
  // with every thread of a Node process SCHED_FIFO on one CPU, a thread waiting for
  // another of the same priority can keep it off the CPU (seen: 2.6× the CPU per
  // connection, and HAProxy on the same CPU starved).
  const rtMain = (pid: number | undefined): void => {
    if (rt && pid !== undefined && spawnSync('chrt', ['-f', '-p', '50', String(pid)]).status !== 0) throw new Error(`chrt -p ${pid} failed`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-bench-us-'));
  const children: ChildProcess[] = [];
  const loadBefore = load();
  try {
    // Backend ports: per target a source (bulk) and a short port, 7000 + 10·i, 7001 + 10·i.
    const targetsN = 4 + (compareModule ? 1 : 0);
    const ports = Array.from({ length: targetsN }, (_, i) => [7000 + 10 * i, 7001 + 10 * i] as [number, number]);
    const backend = await startReady([...pin(loadCpu, rt), built.path, 'server', '127.0.0.1', '0', ports.map((p) => p[0]).join(','), ports.map((p) => p[1]).join(',')], 'netload backend');
    children.push(backend);
    const client = new NetloadClient(built.path, pin(loadCpu, rt));
    children.push(client.child);

    const targets: Target[] = [];
    const take = () => ports[targets.length]!;
    { const p = take(); targets.push({ name: 'direct (no proxy)', tag: 'direct', host: '127.0.0.1', backend: p, bulk: p[0], short: p[1] }); }
    const svcnet = async (name: string, tag: string, vip: string, module?: string) => {
      const p = take();
      const prof = profile && !module ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
      const child = await startReady([...pin(proxyCpu), process.execPath, ...prof, self, 'proxy', vip, String(p[0]), String(p[1]), ...(module ? [module] : [])], name);
      children.push(child);
      rtMain(child.pid);
      targets.push({ name, tag, host: vip, pid: child.pid, backend: p, bulk: 9001, short: 9002 });
    };
    await svcnet('svcnet userspace', 'svcnet', '127.97.0.1');
    if (compareModule) await svcnet(`svcnet (${strArg('compare-name') ?? 'compare'})`, strArg('compare-name') ?? 'compare', '127.97.0.2', compareModule);
    const hv = haproxyVersion();
    if (hv) {
      const v = hv.split('-')[0];
      { const p = take(); const h = await startHaproxy(dir, '127.97.1.1', p, pin(proxyCpu)); children.push(h); rtMain(h.pid); targets.push({ name: `haproxy ${v} (Debian defaults)`, tag: 'haproxy', host: '127.97.1.1', pid: h.pid, backend: p, bulk: 9001, short: 9002 }); }
      if (matchedBufsize > 0) {
        const p = take();
        const h = await startHaproxy(dir, '127.97.1.2', p, pin(proxyCpu), matchedBufsize);
        children.push(h);
        rtMain(h.pid);
        targets.push({ name: `haproxy ${v} (bufsize ${matchedBufsize / 1024}k)`, tag: `haproxy-${matchedBufsize / 1024}k`, host: '127.97.1.2', pid: h.pid, backend: p, bulk: 9001, short: 9002 });
      }
    } else {
      console.error('haproxy not installed (apt-get install haproxy): comparing with direct only');
    }
    console.error(`userspace bench: ${targets.map((t) => t.name).join(', ')}; ${warmup} warm-up + ${rounds} rounds; load generator + backend on CPU ${loadCpu}, proxy on CPU ${proxyCpu}${rt ? ', SCHED_FIFO' : ''}`);

    const trouble = targets.map(() => new Map<string, number>());
    const samples: Series[] = targets.map(() => ({ mbps: [], cps: [], proxyMsPerGB: [], allMsPerGB: [], proxyUsPerConn: [], allUsPerConn: [], wait: [] }));
    /** One command: its result, and the CPU and run-queue wait (ns) of the proxy, the backend and the client in the meantime. */
    const measured = async (t: Target, cmd: string) => {
      if (gapMs) await sleep(gapMs);
      const ids = [t.pid, backend.pid, client.child.pid];
      const before = ids.map(processSched);
      const k0 = tcpCounters();
      const r = await client.run(cmd);
      const k1 = tcpCounters();
      const tr = trouble[targets.indexOf(t)]!;
      for (const n of troubleCounters) tr.set(n, (tr.get(n) ?? 0) + (k1.get(n) ?? 0) - (k0.get(n) ?? 0));
      // The next run starts only once this proxy has gone quiet: what a Node process does
      // after a run (closing sockets, GC) on the proxies' CPU otherwise lands in the next
      // target's run (seen: HAProxy at 80–110 MB/s instead of ~900 right after svcnet).
      // That work is the run's own: the CPU is read after it (the rate is not).
      for (let i = 0, c = processSched(t.pid).cpuNs; t.pid && i < 50; i++) {
        await sleep(20);
        const c2 = processSched(t.pid).cpuNs;
        if (c2 - c < 1e6) break;
        c = c2;
      }
      const after = ids.map(processSched);
      if (r.errors) console.error(`  (${r.errors} errors: ${t.name}: ${cmd})`);
      const d = after.map((a, i) => ({ cpuNs: a.cpuNs - before[i]!.cpuNs, waitNs: a.waitNs - before[i]!.waitNs }));
      return { r, proxyNs: t.pid ? d[0]!.cpuNs : 0, allNs: (t.pid ? d[0]!.cpuNs : 0) + d[1]!.cpuNs + d[2]!.cpuNs, waitNs: d[0]!.waitNs };
    };
    for (let round = -warmup; round < rounds; round++) {
      const k = ((round % targets.length) + targets.length) % targets.length;
      const order = [...targets.keys()].slice(k).concat([...targets.keys()].slice(0, k));
      const line: string[] = [];
      for (const i of order) {
        const t = targets[i]!;
        const s = samples[i]!;
        let mbps = NaN;
        let cps = NaN;
        let wait = 0;
        if (only !== 'conn') {
          const m = await measured(t, `recv ${t.host} ${t.bulk} ${mb * 1024 * 1024} ${streams}`);
          const gb = m.r.bytes / 2 ** 30;
          mbps = m.r.bytes / 2 ** 20 / (m.r.ns / 1e9);
          wait += m.waitNs / m.r.ns;
          if (round >= 0) {
            s.mbps.push(mbps);
            s.proxyMsPerGB.push(m.proxyNs / 1e6 / gb);
            s.allMsPerGB.push(m.allNs / 1e6 / gb);
          }
        }
        if (only !== 'bulk') {
          const m = await measured(t, `conn ${t.host} ${t.short} ${conns} ${concurrency}`);
          cps = m.r.conns / (m.r.ns / 1e9);
          wait += m.waitNs / m.r.ns;
          if (round >= 0) {
            s.cps.push(cps);
            s.proxyUsPerConn.push(m.proxyNs / 1e3 / m.r.conns);
            s.allUsPerConn.push(m.allNs / 1e3 / m.r.conns);
          }
        }
        if (round >= 0) s.wait.push(wait / (only ? 1 : 2));
        line.push(`${t.tag} ${mbps.toFixed(0)} MB/s ${cps.toFixed(0)} c/s`);
      }
      console.error(`  ${round < 0 ? 'warm-up' : `round ${round + 1}`}: ${line.join('; ')}`);
    }

    const rows = targets.map((t, i) => {
      const s = samples[i]!;
      return { name: t.name, mbps: median(s.mbps), cps: median(s.cps), proxyMsPerGB: t.pid ? median(s.proxyMsPerGB) : NaN, allMsPerGB: median(s.allMsPerGB), proxyUsPerConn: t.pid ? median(s.proxyUsPerConn) : NaN, allUsPerConn: median(s.allUsPerConn), wait: t.pid ? median(s.wait) : NaN };
    });
    const out = (s = '') => console.log(s);
    out(`userspace proxy benchmark: per target and round ${mb} MB over ${streams} streams (backend → client) and ${conns} request/answer connections at concurrency ${concurrency}; ${rounds} rounds after ${warmup} warm-up, every target back to back per round (order rotating)`);
    out(`netload (C) load generator and backend on CPU ${loadCpu}, the proxy on CPU ${proxyCpu}${rt ? ', all SCHED_FIFO' : ''}; node ${process.version}; load average before ${loadBefore}, after ${load()}`);
    out();
    out('| target | MB/s | conn/s | proxy CPU ms/GB | all three ms/GB | proxy CPU µs/conn | all three µs/conn | proxy run-queue wait |');
    out('|---|---|---|---|---|---|---|---|');
    const f = (v: number, d = 0) => (Number.isNaN(v) ? '–' : v.toFixed(d));
    for (const r of rows) out(`| ${r.name} | ${f(r.mbps)} | ${f(r.cps)} | ${f(r.proxyMsPerGB)} | ${f(r.allMsPerGB)} | ${f(r.proxyUsPerConn, 1)} | ${f(r.allUsPerConn, 1)} | ${f(r.wait * 100, 1)} % |`);
    out();
    out(`TCP trouble counters (whole run, warm-up included; /proc/net/snmp, netstat): ${targets.map((t, i) => `${t.tag} ${[...trouble[i]!].filter(([, v]) => v).map(([n, v]) => `${n} ${v}`).join(' ') || 'none'}`).join('; ')}.`);
    out('Medians. CPU from /proc/PID/task/*/schedstat (every thread; the kernel\'s work in their context included): "all three" is proxy + backend + load generator. Proxy run-queue wait: time its threads were runnable but off the CPU (other tasks on it), ÷ wall time.');
    out();
    const us = samples[1]!;
    const iv = (p: Paired, d = 3) => `${p.median.toFixed(d)} [${p.ci[0].toFixed(d)}, ${p.ci[1].toFixed(d)}]`;
    out('Paired per-round ratios (median, 95 % bootstrap CI of the median, IQR); CPU ratios are other ÷ svcnet, so > 1 means svcnet spends less:');
    out();
    out('| svcnet ÷ | MB/s | conn/s | proxy CPU per GB | all three per GB | proxy CPU per conn |');
    out('|---|---|---|---|---|---|');
    let goal: Paired | undefined;
    for (const [i, t] of targets.entries()) {
      if (i === 1) continue;
      const s = samples[i]!;
      const bulk = paired(us.mbps, s.mbps);
      if (t.name.includes('Debian defaults')) goal = bulk;
      const cpu = (a: number[], b: number[]) => (t.pid && a.length ? fmtPaired(paired(a, b)) : '–');
      out(`| ${t.name} | ${us.mbps.length ? fmtPaired(bulk) : '–'} | ${us.cps.length ? fmtPaired(paired(us.cps, s.cps)) : '–'} | ${cpu(s.proxyMsPerGB, us.proxyMsPerGB)} | ${s.allMsPerGB.length ? fmtPaired(paired(s.allMsPerGB, us.allMsPerGB)) : '–'} | ${cpu(s.proxyUsPerConn, us.proxyUsPerConn)} |`);
    }
    out();
    const h = targets.findIndex((t) => t.name.includes('Debian defaults'));
    if (goal && h >= 0 && us.mbps.length) {
      const hs = samples[h]!;
      out(`VERDICT (b) svcnet userspace ÷ HAProxy (Debian defaults) bulk throughput ≥ 1.0: ${iv(goal)} ${verdict(goal, 1.0)}; ` +
        `proxy CPU per GB haproxy÷svcnet ${iv(paired(hs.proxyMsPerGB, us.proxyMsPerGB))}, all three ${iv(paired(hs.allMsPerGB, us.allMsPerGB))}` +
        (us.cps.length ? `; conn/s ${iv(paired(us.cps, hs.cps))}` : '') + ` (95% CIs; load ${load()})`);
    }
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, sleep(2000)]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    built.cleanup();
  }
}

if (process.argv[2] === 'proxy' || process.env[SANDBOX_ENV] === '1' || sandboxUnsupported()) {
  // The proxy role, or already inside the sandbox, or no sandbox possible (not root): run here.
  await main();
} else {
  // A private network namespace: loopback of its own, so no port clashes with other jobs.
  const r = await runInSandbox([process.execPath, ...process.execArgv, self, ...process.argv.slice(2)], { timeoutMs: 600_000 });
  process.exit(r.code);
}
