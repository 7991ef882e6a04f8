// Userspace data plane benchmark: bulk TCP throughput (MB/s) and short connections
// per second, through the svcnet userspace proxy vs straight to the backend, and vs
// HAProxy (Debian's `haproxy`, single thread, mode tcp) when installed — all in the
// same run, so the ratios compare like with like. Backend, proxy and load generator
// are separate processes, as in real use.
//
//   node .build/prt/bench/userspace.js [--mb 512] [--streams 4] [--seconds 3] [--concurrency 32] [--rounds 3]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
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

async function proxyRole(vip: string, bulkPort: number, shortPort: number): Promise<void> {
  const { buildSnapshot } = await import('../src/proxy/snapshot.js');
  const { UserspaceProxy } = await import('../src/proxy/userspace/proxier.js');
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
    s.on('end', () => resolve(got));
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

async function connectionsPerSecond(host: string, port: number, seconds: number, concurrency: number): Promise<number> {
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
  return done / ((Date.now() - t0) / 1000);
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

async function startHaproxy(dir: string, bulkPort: number, shortPort: number): Promise<ChildProcess> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, `global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bulk
  bind 127.0.0.1:9101
  default_backend bulk
backend bulk
  server b1 127.0.0.1:${bulkPort}
frontend short
  bind 127.0.0.1:9102
  default_backend short
backend short
  server s1 127.0.0.1:${shortPort}
`);
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port: 9102 }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('haproxy did not start');
}

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'backend') return backendRole();
  if (role === 'proxy') return proxyRole(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));

  const mb = arg('mb', 512);
  const streams = arg('streams', 4);
  const seconds = arg('seconds', 3);
  const concurrency = arg('concurrency', 32);
  const rounds = arg('rounds', 3);
  const vip = '127.97.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-bench-us-'));
  const children: ChildProcess[] = [];
  try {
    const backend = await startChild(process.execPath, [self, 'backend']);
    children.push(backend.child);
    const [bulkPort, shortPort] = backend.ports as [number, number];
    const proxy = await startChild(process.execPath, [self, 'proxy', vip, String(bulkPort), String(shortPort)]);
    children.push(proxy.child);
    const hv = haproxyVersion();
    const targets: { name: string; host: string; bulk: number; short: number }[] = [
      { name: 'direct (no proxy)', host: '127.0.0.1', bulk: bulkPort, short: shortPort },
      { name: 'svcnet userspace', host: vip, bulk: 9001, short: 9002 },
    ];
    if (hv) {
      children.push(await startHaproxy(dir, bulkPort, shortPort));
      targets.push({ name: `haproxy ${hv} (1 thread)`, host: '127.0.0.1', bulk: 9101, short: 9102 });
    } else {
      console.error('haproxy not installed (apt-get install haproxy): comparing with direct only');
    }
    // Rounds interleave the targets, and the median is kept: a shared machine's load
    // swings then hit every target alike.
    const samples = targets.map(() => ({ mbps: [] as number[], cps: [] as number[] }));
    for (let r = 0; r < rounds; r++) {
      for (const [i, t] of targets.entries()) {
        samples[i]!.mbps.push(await throughput(t.host, t.bulk, mb, streams));
        samples[i]!.cps.push(await connectionsPerSecond(t.host, t.short, seconds, concurrency));
      }
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const rows = targets.map((t, i) => ({ name: t.name, mbps: median(samples[i]!.mbps), cps: median(samples[i]!.cps) }));
    const direct = rows[0]!;
    const ours = rows[1]!;
    const hap = rows[2];
    console.log(`\nuserspace proxy benchmark: ${mb} MB over ${streams} streams; ${seconds} s of short connections at concurrency ${concurrency}; median of ${rounds} interleaved rounds`);
    console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} CPUs\n`);
    const pad = (s: string, n: number) => s.padEnd(n);
    const num = (v: number, d = 0) => v.toFixed(d).padStart(10);
    console.log(`${pad('target', 36)}${'MB/s'.padStart(10)}${'conn/s'.padStart(10)}${'MB/s ÷ direct'.padStart(16)}${'conn/s ÷ direct'.padStart(17)}`);
    for (const r of rows) {
      console.log(`${pad(r.name, 36)}${num(r.mbps)}${num(r.cps)}${num(r.mbps / direct.mbps, 2).padStart(16)}${num(r.cps / direct.cps, 2).padStart(17)}`);
    }
    if (hap) {
      console.log(`\nsvcnet ÷ haproxy: ${(ours.mbps / hap.mbps).toFixed(2)} × the throughput, ${(ours.cps / hap.cps).toFixed(2)} × the connections/s`);
    }
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
