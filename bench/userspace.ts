// Userspace data plane benchmark: bulk TCP throughput (MB/s) and short connections
// per second, through the svcnet userspace proxy vs straight to the backend, and vs
// HAProxy (Debian's `haproxy`, single thread, mode tcp) when installed — all in the
// same run, so the ratios compare like with like. Backend, proxy and load generator
// are separate processes, as in real use.
//
//   npm run build && node dist/bench/userspace.js [--mb 256] [--streams 4] [--seconds 2] [--concurrency 32] [--rounds 7]
//     [--haproxy-bufsize 524288 (0: no second HAProxy row)] [--compare-module other/proxier.js --compare-name before]
//     [--only bulk|conn] [--profile DIR (node --cpu-prof of the svcnet proxy)]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const self = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ roles

/** Port P: every connection gets `--bytes` bytes (bulk) then EOF. Port P+? is separate: see below. */
function backendRole(): void {
  const chunk = Buffer.alloc(64 * 1024, 120);
  const reply = Buffer.from('0123456789abcdef0123456789abcdef');
  // Bulk: the first byte the client sends is the number of MB it wants.
  const bulk = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      let left = d.readUInt32BE(0) * 1024 * 1024;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      pump();
    });
  });
  const short = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(reply);
  });
  bulk.listen(0, '127.0.0.1', () => short.listen(0, '127.0.0.1', () => {
    process.stdout.write(`ready ${(bulk.address() as net.AddressInfo).port} ${(short.address() as net.AddressInfo).port}\n`);
  }));
}

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

// ------------------------------------------------------------------ load

function bulkOnce(host: string, port: number, mb: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let got = 0;
    s.on('connect', () => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(mb);
      s.write(b);
    });
    s.on('data', (d: Buffer) => { got += d.length; });
    s.on('end', () => (got === mb * 1024 * 1024 ? resolve(got) : reject(new Error(`${host}:${port}: got ${got} bytes of ${mb} MB`))));
    s.on('error', reject);
  });
}

async function throughput(host: string, port: number, totalMB: number, streams: number): Promise<number> {
  await bulkOnce(host, port, 8); // warm-up
  const per = Math.max(1, Math.floor(totalMB / streams));
  const t0 = process.hrtime.bigint();
  const bytes = (await Promise.all(Array.from({ length: streams }, () => bulkOnce(host, port, per)))).reduce((a, b) => a + b, 0);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return bytes / (1024 * 1024) / secs;
}

function shortOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.on('data', () => undefined);
    s.on('end', () => { s.destroy(); resolve(); });
    s.on('error', reject);
  });
}

async function connectionsPerSecond(host: string, port: number, seconds: number, concurrency: number): Promise<{ perSecond: number; count: number }> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const worker = async () => {
    while (Date.now() < end) {
      try {
        await shortOnce(host, port);
        done++;
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (errors) console.error(`  (${errors} connection errors against ${host}:${port})`);
  return { perSecond: done / ((Date.now() - t0) / 1000), count: done };
}

// ------------------------------------------------------------------ processes

async function startChild(cmd: string, args: string[]): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready ([\d ]+)\n/.exec(out);
      if (m) resolve(m[1]!.trim().split(' ').map(Number));
    });
    child.on('exit', (c) => reject(new Error(`${cmd} exited ${c}`)));
  });
  return { child, ports };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function haproxyVersion(): string | undefined {
  const r = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1];
}

/**
 * HAProxy in TCP mode, one thread (svcnet relays on one event loop), `-db` so it stays
 * in the foreground (its pid is the one doing the work). `bufsize` undefined: the
 * package's defaults (tune.bufsize 16384, no splicing), i.e. HAProxy from Debian as
 * installed; otherwise tune.bufsize, e.g. the size of svcnet's bulk buffers.
 */
async function startHaproxy(dir: string, bulkPort: number, shortPort: number, ports: [number, number], bufsize?: number): Promise<ChildProcess> {
  const cfg = join(dir, `haproxy-${ports[0]}.cfg`);
  writeFileSync(cfg, `global
  nbthread 1
  maxconn 4000
${bufsize ? `  tune.bufsize ${bufsize}\n` : ''}defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bulk
  bind 127.0.0.1:${ports[0]}
  default_backend bulk
backend bulk
  server b1 127.0.0.1:${bulkPort}
frontend short
  bind 127.0.0.1:${ports[1]}
  default_backend short
backend short
  server s1 127.0.0.1:${shortPort}
`);
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port: ports[1] }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('haproxy did not start');
}

// CPU time of a process (user + system), from /proc: what a proxy spends per GB or per
// connection, which a loaded machine disturbs much less than the wall-clock rates.
const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

interface Target { name: string; host: string; bulk: number; short: number; pid?: number }

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'backend') return backendRole();
  if (role === 'proxy') return proxyRole(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), process.argv[6]);

  const mb = arg('mb', 256);
  const streams = arg('streams', 4);
  const seconds = arg('seconds', 2);
  const concurrency = arg('concurrency', 32);
  const rounds = arg('rounds', 7);
  const only = strArg('only'); // 'bulk' | 'conn': one half of the benchmark (profiling)
  // HAProxy's tune.bufsize for a second HAProxy row (0: none); default, the size of
  // svcnet's bulk buffers, so that buffer size is not what the comparison measures.
  const matchedBufsize = arg('haproxy-bufsize', 512 * 1024);
  // Another build of the userspace proxier (its proxier.js), as an extra row named
  // --compare-name: before/after in one run.
  const compareModule = strArg('compare-module');
  const vip = '127.97.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-bench-us-'));
  const children: ChildProcess[] = [];
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  const loadBefore = load();
  try {
    const backend = await startChild(process.execPath, [self, 'backend']);
    children.push(backend.child);
    const [bulkPort, shortPort] = backend.ports as [number, number];
    const profile = strArg('profile');
    const prof = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
    const proxy = await startChild(process.execPath, [...prof, self, 'proxy', vip, String(bulkPort), String(shortPort)]);
    children.push(proxy.child);
    const targets: Target[] = [
      { name: 'direct (no proxy)', host: '127.0.0.1', bulk: bulkPort, short: shortPort },
      { name: 'svcnet userspace', host: vip, bulk: 9001, short: 9002, pid: proxy.child.pid },
    ];
    if (compareModule) {
      const vip2 = '127.97.0.2';
      const other = await startChild(process.execPath, [self, 'proxy', vip2, String(bulkPort), String(shortPort), compareModule]);
      children.push(other.child);
      targets.push({ name: `svcnet (${strArg('compare-name') ?? 'compare'})`, host: vip2, bulk: 9001, short: 9002, pid: other.child.pid });
    }
    const hv = haproxyVersion();
    if (hv) {
      const h = await startHaproxy(dir, bulkPort, shortPort, [9101, 9102]);
      children.push(h);
      targets.push({ name: `haproxy ${hv.split('-')[0]} (Debian defaults)`, host: '127.0.0.1', bulk: 9101, short: 9102, pid: h.pid });
      if (matchedBufsize > 0) {
        const m = await startHaproxy(dir, bulkPort, shortPort, [9111, 9112], matchedBufsize);
        children.push(m);
        targets.push({ name: `haproxy ${hv.split('-')[0]} (bufsize ${matchedBufsize / 1024}k)`, host: '127.0.0.1', bulk: 9111, short: 9112, pid: m.pid });
      }
    } else {
      console.error('haproxy not installed (apt-get install haproxy): comparing with direct only');
    }
    // Rounds interleave the targets, and the median is kept: a shared machine's load
    // swings then hit every target alike. Bulk rounds first, then connection rounds, so
    // that consecutive measurements of different targets are seconds apart at most.
    const samples = targets.map(() => ({ mbps: [] as number[], cps: [] as number[], msPerGB: [] as number[], allPerGB: [] as number[], usPerConn: [] as number[] }));
    // The load generator's CPU (this process) and the backend's count too: a proxy's
    // write and read pattern changes what they spend, and on a machine of its own the
    // three share its cores.
    const selfMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
    // One round not counted, for every target alike: Node's JIT warms up (HAProxy has none).
    for (const t of targets) {
      if (only !== 'conn') await throughput(t.host, t.bulk, 64, streams);
      if (only !== 'bulk') await connectionsPerSecond(t.host, t.short, 0.5, concurrency);
    }
    for (let r = 0; r < rounds && only !== 'conn'; r++) {
      for (const [i, t] of targets.entries()) {
        const s = samples[i]!;
        const c0 = cpuMs(t.pid) ?? 0;
        const b0 = cpuMs(backend.child.pid);
        const l0 = selfMs();
        s.mbps.push(await throughput(t.host, t.bulk, mb, streams));
        const gb = (mb + 8) / 1024; // + the 8 MB warm-up
        const proxyMs = (cpuMs(t.pid) ?? 0) - c0;
        const b1 = cpuMs(backend.child.pid);
        s.msPerGB.push(proxyMs / gb);
        if (b0 !== undefined && b1 !== undefined) s.allPerGB.push((proxyMs + b1 - b0 + selfMs() - l0) / gb);
      }
    }
    for (let r = 0; r < rounds && only !== 'bulk'; r++) {
      for (const [i, t] of targets.entries()) {
        const s = samples[i]!;
        const c0 = cpuMs(t.pid);
        const { perSecond, count } = await connectionsPerSecond(t.host, t.short, seconds, concurrency);
        const c1 = cpuMs(t.pid);
        s.cps.push(perSecond);
        if (c0 !== undefined && c1 !== undefined && count > 0) s.usPerConn.push(((c1 - c0) * 1000) / count);
      }
    }
    const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]! : NaN);
    const rows = targets.map((t, i) => {
      const s = samples[i]!;
      return { name: t.name, mbps: median(s.mbps), cps: median(s.cps), msPerGB: t.pid ? median(s.msPerGB) : NaN, allPerGB: median(s.allPerGB), usPerConn: median(s.usPerConn) };
    });
    const direct = rows[0]!;
    const ours = rows[1]!;
    console.log(`\nuserspace proxy benchmark: ${mb} MB over ${streams} streams; ${seconds} s of short connections at concurrency ${concurrency}; median of ${rounds} interleaved rounds`);
    console.log(`node ${process.version}, ${cpus().length} CPUs; load average before ${loadBefore}, after ${load()}\n`);
    const pad = (s: string, n: number) => s.padEnd(n);
    const num = (v: number, d = 0) => (Number.isNaN(v) ? '-' : v.toFixed(d)).padStart(10);
    console.log(`${pad('', 36)}${''.padStart(10)}${''.padStart(10)}${''.padStart(13)}${''.padStart(15)}${'CPU ms per GB'.padStart(22)}${'proxy CPU'.padStart(11)}`);
    console.log(`${pad('target', 36)}${'MB/s'.padStart(10)}${'conn/s'.padStart(10)}${'MB/s÷direct'.padStart(13)}${'conn/s÷direct'.padStart(15)}${'proxy'.padStart(10)}${'all three'.padStart(12)}${'µs/conn'.padStart(11)}`);
    for (const r of rows) {
      console.log(`${pad(r.name, 36)}${num(r.mbps)}${num(r.cps)}${num(r.mbps / direct.mbps, 2).padStart(13)}${num(r.cps / direct.cps, 2).padStart(15)}${num(r.msPerGB)}${num(r.allPerGB).padStart(12)}${num(r.usPerConn).padStart(11)}`);
    }
    console.log('\nper round (MB/s; conn/s):');
    for (const [i, t] of targets.entries()) {
      const s = samples[i]!;
      console.log(`  ${pad(t.name, 34)}${s.mbps.map((v) => v.toFixed(0)).join(' ')}; ${s.cps.map((v) => v.toFixed(0)).join(' ')}`);
    }
    console.log('');
    for (const [i, t] of targets.entries()) {
      if (!t.name.startsWith('haproxy')) continue;
      const h = rows[i]!;
      // Also the median of the per-round ratios: each pair ran back to back, under the same load.
      const paired = median(samples[1]!.mbps.map((v, r) => v / samples[i]!.mbps[r]!));
      console.log(`svcnet ÷ ${t.name}: ${(ours.mbps / h.mbps).toFixed(2)} × the throughput (median of per-round ratios ${paired.toFixed(2)}), ` +
        `${(ours.cps / h.cps).toFixed(2)} × the connections/s; CPU per GB ${(ours.msPerGB / h.msPerGB).toFixed(2)} × (proxy), ` +
        `${(ours.allPerGB / h.allPerGB).toFixed(2)} × (all three); proxy CPU per connection ${(ours.usPerConn / h.usPerConn).toFixed(2)} ×`);
    }
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
