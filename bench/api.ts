// API benchmark: create / get / list / watch fan-out against `svcnet apiserver`
// run as a child process (HTTPS, bearer token, as kubectl uses it; so the load
// generator does not share its event loop), once per storage (memory, SQLite,
// and etcd when /usr/bin/etcd is installed: one durable member, fsync on, data
// in --dir like SQLite's), in the same run.
//
//   npm run build && node dist/bench/api.js [--creates 3000] [--clients 100] [--watchers 100]
//       [--rates 100,250,500] [--open-seconds 5] [--storages memory,sqlite,etcd] [--builds DIR,DIR] [--cpu-prof DIR] [--dir DIR]
//   node dist/bench/api.js --writes 2000 [--write-clients 10] [--write-watchers 2] [--rounds 4]
//       [--storage memory|sqlite] [--kinds create,status,slice,endpoints] [--builds DIR,DIR] [--cpu-prof DIR]
//
// Phases, per storage:
//  - saturated: `clients` connections each send the next create as soon as the
//    previous one answers (closed loop): throughput, and the latency that
//    queueing then gives (Little's law: in flight / throughput).
//  - open loop, per rate of --rates: the same connections send creates on a
//    fixed schedule (rate/s in all, spread evenly), whatever the answers do:
//    latency at a given load. The achieved rate is printed next to the offered one.
//    Meanwhile one more connection (its own agent, so it never queues behind
//    the creates in the client) GETs an existing object every 10 ms: how reads
//    fare while writes wait for the disk.
//  - get, list, watch fan-out.
// Around the write phases the apiserver's event-loop delay (monitorEventLoopDelay
// inside the child) and its CPU time are read, and a probe fdatasync()s a 4 KiB
// overwrite in the benchmark's temp directory every 20 ms: the disk's own sync
// latency, the floor under any durable commit on that disk, measured alongside.
//
// --builds runs the same benchmark against other compiled trees (directories
// holding src/cli/main.js), e.g. a build of the previous commit, in the same run.
// --side-by-side WINDOWS instead runs one SQLite apiserver per build at the same
// time, on the same disk, each offered the first --rates value, for WINDOWS
// windows of --open-seconds: on a shared machine the fairest before/after,
// since both see the same disk stalls and the same CPU contention.
// --cpu-prof DIR writes a V8 CPU profile of each apiserver child into DIR.
// --writes N instead measures the apiserver's CPU per write for N writes of
// each kind: ConfigMap create, pods/status merge patch, EndpointSlice PUT and
// Endpoints PUT (the churn path), with watches open; with --builds, all
// builds' servers run at once and take turns (--rounds turns per kind).
// --dir DIR puts the servers' data directories (the SQLite file) in DIR instead
// of the system temp directory: e.g. /dev/shm (tmpfs, where fsync costs
// nothing) separates the software's own latency from the disk's.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fdatasync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parse } from 'yaml';
import { etcdMissing, startEtcd, type EtcdCluster } from '../test/lib/etcd.js';

interface Target { base: URL; token: string; agent: Agent; child: ChildProcess; dir: string; etcd?: EtcdCluster }

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const num = (name: string, def: number): number => Number(arg(name, String(def)));

// Inside the apiserver child: event-loop delay since the last SIGUSR2, written to a file on SIGUSR2.
const childProbe = `const { monitorEventLoopDelay } = require('node:perf_hooks');
const fs = require('node:fs');
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
process.on('SIGUSR2', () => {
  const file = process.env.SVCNET_BENCH_LOOP_FILE;
  fs.writeFileSync(file + '.tmp', JSON.stringify({ p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }));
  fs.renameSync(file + '.tmp', file);
  h.reset();
});`;

type Storage = 'memory' | 'sqlite' | 'etcd';

async function startServer(build: string, storage: Storage, cpuProf: string | undefined, parent: string): Promise<Target> {
  const dir = mkdtempSync(join(parent, 'svcnet-bench-'));
  const main = join(build, 'src/cli/main.js');
  // etcd: a durable single member whose data sits in the bench's dir, on the same disk as SQLite's.
  const etcd = storage === 'etcd' ? await startEtcd(1, { durable: true, parent: dir }) : undefined;
  const store = storage === 'memory' ? 'memory' : etcd ? `etcd:${etcd.endpoints}` : `sqlite:${dir}/state.db`;
  const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf, '--cpu-prof-name', `apiserver-${storage}-${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...prof, '-e', `${childProbe}\nimport(${JSON.stringify(main)}).then(m => m.main(process.argv.slice(1)))`,
    'apiserver', '--listen', '127.0.0.1:0', '--data-dir', dir, '--storage', store, '--log-level', 'error'],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SVCNET_BENCH_LOOP_FILE: join(dir, 'loop.json') } });
  const kc = join(dir, 'kubeconfig');
  for (let i = 0; i < 400 && !existsSync(kc); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(kc)) { await etcd?.destroy(); throw new Error('apiserver did not start'); }
  const cfg = parse(readFileSync(kc, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
  const ca = Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64');
  return { base: new URL(cfg.clusters[0]!.cluster.server), token: cfg.users[0]!.user.token, agent: new Agent({ keepAlive: true, maxSockets: 256, ca }), child, dir, etcd };
}

async function stopServer(t: Target): Promise<void> {
  t.agent.destroy();
  const exited = new Promise((r) => t.child.once('exit', r));
  t.child.kill('SIGTERM');
  await exited;
  await t.etcd?.destroy();
  rmSync(t.dir, { recursive: true, force: true });
}

interface LoopDelay { p50: number; p99: number; max: number }

/** The child's event-loop delay since the previous call (and resets it). */
async function serverLoopDelay(t: Target): Promise<LoopDelay> {
  const file = join(t.dir, 'loop.json');
  if (existsSync(file)) unlinkSync(file);
  t.child.kill('SIGUSR2');
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  return JSON.parse(readFileSync(file, 'utf8')) as LoopDelay;
}

/** CPU seconds (user + system) the child has used. */
function serverCpu(t: Target): number {
  const c = serverCpuSplit(t);
  return c.user + c.sys;
}

/** The child's user and system CPU seconds. */
function serverCpuSplit(t: Target): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${t.child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
}

/** fdatasync of a 4 KiB overwrite every 20 ms in dir, until stopped: the disk's sync latency. */
function syncProbe(dir: string): () => number[] {
  const fd = openSync(join(dir, 'probe'), 'w');
  const buf = Buffer.alloc(4096, 7);
  writeSync(fd, buf, 0, buf.length, 0);
  const lat: number[] = [];
  let stopped = false;
  const once = (): void => {
    if (stopped) return;
    writeSync(fd, buf, 0, buf.length, 0);
    const t0 = performance.now();
    fdatasync(fd, () => {
      lat.push(performance.now() - t0);
      setTimeout(once, 20);
    });
  };
  once();
  return () => {
    stopped = true;
    setTimeout(() => closeSync(fd), 1000).unref();
    return lat;
  };
}

function call(t: Target, method: string, path: string, body?: unknown, agent = t.agent): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const ct = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const req = request({
      host: t.base.hostname, port: t.base.port, method, path, agent,
      headers: { Authorization: `Bearer ${t.token}`, 'Content-Type': ct, ...(data ? { 'Content-Length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
}

const configMap = (name: string, labels?: Record<string, string>): unknown =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data: { k: 'v'.repeat(64) } });

interface OpenLoop {
  offered: number; achieved: number; p50: number; p99: number; p999: number; max: number;
  getP99: number; getMax: number; loop: LoopDelay; genLoopP99: number; disk?: { p50: number; p99: number; max: number };
}
interface Result {
  build: string; storage: string;
  createP50: number; createP99: number; createRate: number; cpuMsPerCreate: number; saturatedLoop: LoopDelay;
  open: OpenLoop[];
  getP50: number; getP99: number; listMs: number; watchP50: number; watchP99: number;
}

async function runOne(build: string, storage: Storage, o: { creates: number; clients: number; watchers: number; rates: number[]; openSeconds: number; cpuProf?: string; dir: string }): Promise<Result> {
  const { creates, clients, watchers } = o;
  const t = await startServer(build, storage, o.cpuProf, o.dir);
  try {
    // Warm up: one connection (TLS handshake) per client and the server's JIT, not measured.
    await Promise.all(Array.from({ length: clients }, async (_, i) => {
      await call(t, 'GET', '/api/v1/namespaces/default/configmaps?limit=1');
      await call(t, 'POST', '/api/v1/namespaces/default/configmaps', configMap(`warm-${i}`));
    }));
    await serverLoopDelay(t);
    const lat: number[] = [];
    let next = 0;
    const cpu0 = serverCpu(t);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= creates) return;
        const [r, ms] = await timed(() => call(t, 'POST', '/api/v1/namespaces/default/configmaps', configMap(`cm-${i}`, { bench: 'x', n: String(i % 10) })));
        if (r.code !== 201) throw new Error(`create ${i}: ${r.code} ${r.body}`);
        lat.push(ms);
      }
    }));
    const createRate = creates / ((Date.now() - t0) / 1000);
    const cpuMsPerCreate = ((serverCpu(t) - cpu0) * 1000) / creates;
    const saturatedLoop = await serverLoopDelay(t);

    const open: OpenLoop[] = [];
    for (const rate of o.rates) {
      // Open loop: create k goes out at start + k/rate on connection k % clients, whatever the answers do.
      const total = Math.max(1, Math.round(rate * o.openSeconds));
      const olat: number[] = [];
      const gen = monitorEventLoopDelay({ resolution: 1 });
      gen.enable();
      const stopProbe = storage !== 'memory' ? syncProbe(t.dir) : undefined;
      await serverLoopDelay(t);
      const readerAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: t.agent.options.ca });
      await call(t, 'GET', '/api/v1/namespaces/default/configmaps/cm-0', undefined, readerAgent);
      const start = performance.now() + 20;
      const inflight: Promise<void>[] = [];
      const reads: number[] = [];
      let reading = true;
      const reader = (async () => {
        for (let k = 0; reading; k++) {
          const [r, ms] = await timed(() => call(t, 'GET', `/api/v1/namespaces/default/configmaps/cm-${k % creates}`, undefined, readerAgent));
          if (r.code !== 200) throw new Error(`get during writes: ${r.code}`);
          reads.push(ms);
          await new Promise((res) => setTimeout(res, 10));
        }
      })();
      for (let k = 0; k < total; k++) {
        const wait = start + (k * 1000) / rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        inflight.push(timed(() => call(t, 'POST', '/api/v1/namespaces/default/configmaps', configMap(`open-${rate}-${k}`)))
          .then(([r, ms]) => { if (r.code !== 201) throw new Error(`open create: ${r.code}`); olat.push(ms); }));
      }
      const sent = performance.now();
      await Promise.all(inflight);
      reading = false;
      await reader;
      readerAgent.destroy();
      const loop = await serverLoopDelay(t);
      gen.disable();
      const disk = stopProbe?.();
      open.push({
        offered: rate, achieved: total / ((sent - start) / 1000),
        p50: pct(olat, 50), p99: pct(olat, 99), p999: pct(olat, 99.9), max: Math.max(...olat),
        getP99: pct(reads, 99), getMax: Math.max(...reads), loop, genLoopP99: gen.percentile(99) / 1e6,
        ...(disk ? { disk: { p50: pct(disk, 50), p99: pct(disk, 99), max: Math.max(...disk) } } : {}),
      });
    }

    const glat: number[] = [];
    next = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= creates) return;
        const [r, ms] = await timed(() => call(t, 'GET', `/api/v1/namespaces/default/configmaps/cm-${i}`));
        if (r.code !== 200) throw new Error(`get: ${r.code}`);
        glat.push(ms);
      }
    }));
    const [, listMs] = await timed(() => call(t, 'GET', '/api/v1/namespaces/default/configmaps?labelSelector=bench%3Dx'));
    // Watch fan-out: N watchers, then writes; time from write start to each watcher seeing it.
    const rv = JSON.parse((await call(t, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')).body).metadata.resourceVersion as string;
    const seen = new Map<string, number[]>();
    const reqs = [] as ReturnType<typeof request>[];
    await Promise.all(Array.from({ length: watchers }, () => new Promise<void>((resolve, reject) => {
      const req = request({ host: t.base.hostname, port: t.base.port, path: `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&labelSelector=w%3D1`, agent: t.agent, headers: { Authorization: `Bearer ${t.token}` } }, (res) => {
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            const name = JSON.parse(line).object.metadata.name as string;
            const arr = seen.get(name) ?? [];
            arr.push(Date.now());
            seen.set(name, arr);
          }
        });
        resolve();
      });
      req.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e); });
      req.end();
      reqs.push(req);
    })));
    const wlat: number[] = [];
    for (let i = 0; i < 20; i++) {
      const name = `w-${i}`;
      const start = Date.now();
      await call(t, 'POST', '/api/v1/namespaces/default/configmaps', configMap(name, { w: '1' }));
      for (let k = 0; k < 500 && (seen.get(name)?.length ?? 0) < watchers; k++) await new Promise((r) => setTimeout(r, 2));
      for (const at of seen.get(name) ?? []) wlat.push(at - start);
    }
    reqs.forEach((r) => r.destroy());
    return {
      build, storage, createP50: pct(lat, 50), createP99: pct(lat, 99), createRate, cpuMsPerCreate, saturatedLoop, open,
      getP50: pct(glat, 50), getP99: pct(glat, 99), listMs, watchP50: pct(wlat, 50), watchP99: pct(wlat, 99),
    };
  } finally {
    await stopServer(t);
  }
}

/** All builds' SQLite servers at once, each at `rate` creates/s, per-window p50/p99 of each. */
async function sideBySide(builds: string[], o: { rate: number; seconds: number; windows: number; clients: number; dir: string }): Promise<void> {
  const servers: Target[] = [];
  try {
    for (const b of builds) servers.push(await startServer(b, 'sqlite', undefined, o.dir));
    for (const t of servers) {
      await Promise.all(Array.from({ length: o.clients }, (_, i) => call(t, 'POST', '/api/v1/namespaces/default/configmaps', configMap(`warm-${i}`))));
    }
    const names = builds.map((b) => b.replace(/\/+$/, '').split('/').slice(-2).join('/'));
    console.log(`Side by side: ${builds.length} SQLite apiservers at once, ${o.rate} creates/s to each, ${o.seconds} s windows\n`);
    console.log(`| window | ${names.map((n) => `${n} p50 ms | p99 ms`).join(' | ')} | disk fdatasync p99 / max ms |`);
    console.log(`|---|${names.map(() => '---|---|').join('')}---|`);
    const all: number[][] = servers.map(() => []);
    for (let w = 0; w < o.windows; w++) {
      const lat: number[][] = servers.map(() => []);
      const stopProbe = syncProbe(servers[0]!.dir);
      const total = Math.round(o.rate * o.seconds);
      const start = performance.now() + 20;
      const inflight: Promise<void>[] = [];
      for (let k = 0; k < total; k++) {
        const wait = start + (k * 1000) / o.rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        // Rotate which server is sent to first, so none is always last.
        for (let j = 0; j < servers.length; j++) {
          const i = (j + k) % servers.length;
          inflight.push(timed(() => call(servers[i]!, 'POST', '/api/v1/namespaces/default/configmaps', configMap(`sbs-${w}-${k}`)))
            .then(([r, ms]) => { if (r.code !== 201) throw new Error(`create: ${r.code}`); lat[i]!.push(ms); }));
        }
      }
      await Promise.all(inflight);
      const disk = stopProbe();
      lat.forEach((l, i) => all[i]!.push(...l));
      console.log(`| ${w + 1} | ${lat.map((l) => `${pct(l, 50).toFixed(1)} | ${pct(l, 99).toFixed(1)}`).join(' | ')} | ${pct(disk, 99).toFixed(1)} / ${Math.max(...disk).toFixed(1)} |`);
    }
    console.log(`| all | ${all.map((l) => `${pct(l, 50).toFixed(1)} | ${pct(l, 99).toFixed(1)}`).join(' | ')} | |`);
  } finally {
    for (const t of servers) await stopServer(t);
  }
}

/** A watch that reads and drops every event (a controller's informer, as far as the server's work goes). */
function drainWatch(t: Target, path: string): { close(): void } {
  const req = request({ host: t.base.hostname, port: t.base.port, path, agent: t.agent, headers: { Authorization: `Bearer ${t.token}` } }, (res) => {
    res.on('data', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  return { close: () => req.destroy() };
}

const podFor = (i: number): Record<string, unknown> => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: `p-${i}`, labels: { app: `svc-${i % 20}`, 'pod-template-hash': '5d8f7c9b4' } },
  spec: { nodeName: `node-${i % 3}`, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9', ports: [{ containerPort: 8080 }] }] },
});

const ip = (i: number, k: number): string => `10.244.${(i * 10 + k) >> 8 & 255}.${(i * 10 + k) & 255}`;

/** An EndpointSlice as the endpointslice controller writes it: 10 endpoints, one port. */
const sliceFor = (i: number, flip: number): Record<string, unknown> => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: {
    name: `svc-${i}-abcde`, generateName: `svc-${i}-`,
    labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: `svc-${i}`, uid: '6f1c2a9e-0000-4000-8000-000000000000', controller: true, blockOwnerDeletion: true }],
  },
  addressType: 'IPv4',
  endpoints: Array.from({ length: 10 }, (_, k) => {
    const ready = k !== flip % 10;
    return {
      addresses: [ip(i, k)], conditions: { ready, serving: ready, terminating: false },
      targetRef: { kind: 'Pod', namespace: 'default', name: `p-${i * 10 + k}`, uid: `00000000-0000-4000-8000-${String(i * 10 + k).padStart(12, '0')}` },
      nodeName: `node-${k % 3}`,
    };
  }),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

/** Endpoints as the endpoints controller writes them: 10 addresses, one of them not ready. */
const endpointsFor = (i: number, flip: number): Record<string, unknown> => {
  const addr = (k: number) => ({ ip: ip(i, k), nodeName: `node-${k % 3}`, targetRef: { kind: 'Pod', namespace: 'default', name: `p-${i * 10 + k}`, uid: `00000000-0000-4000-8000-${String(i * 10 + k).padStart(12, '0')}` } });
  const ks = Array.from({ length: 10 }, (_, k) => k);
  return {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: `svc-${i}`, labels: { app: `svc-${i}` }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-01T00:00:00Z' } },
    subsets: [{
      addresses: ks.filter((k) => k !== flip % 10).map(addr),
      notReadyAddresses: [addr(flip % 10)],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    }],
  };
};

interface WriteKinds {
  t: Target;
  kinds: Record<string, (c: number, k: number) => Promise<unknown>>;
  close(): void;
}

/**
 * One apiserver with the objects of the churn path (500 pods with a status,
 * 50 EndpointSlices and 50 Endpoints of 10 endpoints each), `watchers`
 * watches per resource open (a controller manager and a proxy, say), and the
 * kinds of write to measure. PUTs carry the object as the last answer
 * returned it (managedFields and resourceVersion included), as a controller
 * writing from its informer cache does; each client owns its objects, so no
 * two writes race on one.
 */
async function writeTarget(build: string, storage: 'memory' | 'sqlite',
  o: { clients: number; watchers: number; cpuProf?: string; dir: string }): Promise<WriteKinds> {
  const t = await startServer(build, storage, o.cpuProf, o.dir);
  const objects = 50;
  const watches: { close(): void }[] = [];
  const ns = '/api/v1/namespaces/default';
  const must = async (r: Promise<{ code: number; body: string }>, what: string) => {
    const x = await r;
    if (x.code >= 300) throw new Error(`${what}: ${x.code} ${x.body}`);
    return JSON.parse(x.body) as Record<string, unknown> & { metadata: Record<string, unknown> };
  };
  const slices: Record<string, unknown>[] = [];
  const eps: Record<string, unknown>[] = [];
  for (let i = 0; i < objects * 10; i++) {
    await must(call(t, 'POST', `${ns}/pods`, podFor(i)), 'pod create');
    await must(call(t, 'PATCH', `${ns}/pods/p-${i}/status`, { status: { phase: 'Running', podIP: ip(0, i), podIPs: [{ ip: ip(0, i) }], conditions: [{ type: 'Ready', status: 'True' }] } }), 'pod status');
  }
  for (let i = 0; i < objects; i++) {
    slices.push(await must(call(t, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', sliceFor(i, 0)), 'slice create'));
    eps.push(await must(call(t, 'POST', `${ns}/endpoints`, endpointsFor(i, 0)), 'endpoints create'));
  }
  for (let w = 0; w < o.watchers; w++) {
    for (const p of [`${ns}/pods`, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', `${ns}/endpoints`, `${ns}/configmaps`]) {
      watches.push(drainWatch(t, `${p}?watch=1&allowWatchBookmarks=true`));
    }
  }
  const ready = new Array<boolean>(objects * 10).fill(true);
  const flips = new Array<number>(objects).fill(0);
  let cm = 0;
  const clients = o.clients;
  const kinds: Record<string, (c: number, k: number) => Promise<unknown>> = {
    // The floor: what any request costs (HTTPS, routing) without touching an object.
    'GET /healthz': async () => { const r = await call(t, 'GET', '/healthz'); if (r.code !== 200) throw new Error(`healthz: ${r.code}`); },
    'ConfigMap create': () => must(call(t, 'POST', `${ns}/configmaps`, configMap(`wc-${cm++}`, { bench: 'x' })), 'create'),
    'pods/status merge patch': (c, k) => {
      const i = (c + k * clients) % (objects * 10);
      ready[i] = !ready[i];
      return must(call(t, 'PATCH', `${ns}/pods/p-${i}/status`, { status: { conditions: [{ type: 'Ready', status: ready[i] ? 'True' : 'False' }] } }), 'status patch');
    },
    'EndpointSlice PUT': async (c, k) => {
      const i = (c + k * clients) % objects;
      const cur = slices[i]!;
      const next = { ...cur, endpoints: (sliceFor(i, ++flips[i]!) as { endpoints: unknown }).endpoints };
      slices[i] = await must(call(t, 'PUT', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/${(cur.metadata as { name: string }).name}`, next), 'slice put');
    },
    'Endpoints PUT': async (c, k) => {
      const i = (c + k * clients) % objects;
      const cur = eps[i]!;
      const next = { ...cur, subsets: (endpointsFor(i, flips[i]!) as { subsets: unknown }).subsets };
      eps[i] = await must(call(t, 'PUT', `${ns}/endpoints/svc-${i}`, next), 'endpoints put');
    },
  };
  return { t, kinds, close: () => watches.forEach((w) => w.close()) };
}

/**
 * CPU per write (--writes N): the API server's CPU time per create and per
 * write of the churn path, each kind alone, `--write-clients` at a time. With
 * several builds, one server per build runs at once and they take turns
 * (batches of N / rounds writes, the order alternating), so that each sees
 * the same load on a shared machine.
 */
async function writesMain(builds: string[], o: { writes: number; clients: number; watchers: number; rounds: number; storage: 'memory' | 'sqlite'; kinds?: string[]; cpuProf?: string; dir: string }): Promise<void> {
  const load = (): string => loadavg()[0]!.toFixed(2);
  const clients = Math.min(o.clients, 50);
  process.stderr.write(`api bench, CPU per write: ${o.writes} writes of each kind per build in ${o.rounds} turns, ${clients} clients, ${o.watchers} watchers per resource, ${o.storage}; load average ${load()}\n`);
  const targets: WriteKinds[] = [];
  try {
    for (const b of builds) targets.push(await writeTarget(b, o.storage, { ...o, clients }));
    const run = async (f: (c: number, k: number) => Promise<unknown>, from: number, n: number) => {
      await Promise.all(Array.from({ length: clients }, async (_, c) => {
        for (let k = Math.ceil((from - c) / clients); k * clients + c < from + n; k++) if (k * clients + c >= from) await f(c, k);
      }));
    };
    const names = Object.keys(targets[0]!.kinds).filter((name) => !o.kinds || o.kinds.some((k) => name.toLowerCase().includes(k)));
    const ms = builds.map(() => new Map<string, { total: number; sys: number; turns: number[] }>());
    const loads: string[] = [load()];
    for (const name of names) {
      for (const x of targets) await run(x.kinds[name]!, 0, Math.min(200, o.writes)); // warm-up: JIT, connections
      const per = Math.ceil(o.writes / o.rounds);
      let done = Math.min(200, o.writes);
      for (let r = 0; r < o.rounds; r++) {
        const order = builds.map((_, i) => i);
        if (r % 2) order.reverse();
        for (const i of order) {
          const x = targets[i]!;
          const c0 = serverCpuSplit(x.t);
          await run(x.kinds[name]!, done, per);
          const c1 = serverCpuSplit(x.t);
          const m = ms[i]!.get(name) ?? { total: 0, sys: 0, turns: [] };
          const cpu = (c1.user + c1.sys - c0.user - c0.sys) * 1000;
          m.total += cpu;
          m.sys += (c1.sys - c0.sys) * 1000;
          m.turns.push(cpu / per);
          ms[i]!.set(name, m);
        }
        done += per;
      }
      loads.push(load());
    }
    const n = Math.ceil(o.writes / o.rounds) * o.rounds;
    console.log(`API server CPU ms per write (${o.storage}, ${clients} clients, ${o.watchers} watchers per resource, ${n} writes of each kind per build); in brackets the kernel (system) part, then the range over the ${o.rounds} turns. Load average (1 min) ${loads.join(' → ')}\n`);
    console.log(`| build | ${names.join(' | ')} |`);
    console.log(`|---|${names.map(() => '---|').join('')}`);
    builds.forEach((b, i) => {
      const cells = names.map((k) => {
        const m = ms[i]!.get(k)!;
        const ratio = i > 0 ? ` ${(m.total / ms[0]!.get(k)!.total).toFixed(2)}×` : '';
        return `${(m.total / n).toFixed(3)} (${(m.sys / n).toFixed(3)}; ${Math.min(...m.turns).toFixed(2)}–${Math.max(...m.turns).toFixed(2)})${ratio}`;
      });
      console.log(`| ${b} | ${cells.join(' | ')} |`);
    });
  } finally {
    for (const x of targets) {
      x.close();
      await stopServer(x.t);
    }
  }
}

async function main(): Promise<void> {
  const creates = num('creates', 3000);
  const clients = num('clients', 100);
  const watchers = num('watchers', 100);
  const rates = arg('rates', '500').split(',').map(Number);
  const openSeconds = num('open-seconds', 5);
  const own = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const builds = arg('builds', own).split(',').map((b) => resolve(b));
  const cpuProf = process.argv.includes('--cpu-prof') ? resolve(arg('cpu-prof', '.')) : undefined;
  const dir = resolve(arg('dir', tmpdir()));
  const storages = arg('storages', etcdMissing() ? 'memory,sqlite' : 'memory,sqlite,etcd').split(',') as Storage[];
  for (const s of storages) if (!['memory', 'sqlite', 'etcd'].includes(s)) throw new Error(`--storages: unknown storage "${s}" (memory, sqlite, etcd)`);
  const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
  if (process.argv.includes('--writes')) {
    await writesMain(builds, {
      writes: num('writes', 2000), clients: num('write-clients', 10), watchers: num('write-watchers', 2), rounds: num('rounds', 4),
      storage: arg('storage', 'memory') === 'sqlite' ? 'sqlite' : 'memory', cpuProf, dir,
      kinds: process.argv.includes('--kinds') ? arg('kinds', '').toLowerCase().split(',') : undefined,
    });
    return;
  }
  if (process.argv.includes('--side-by-side')) {
    process.stderr.write(`api bench side by side: ${builds.join(', ')}; data in ${dir}; load average ${load()}\n`);
    await sideBySide(builds, { rate: rates[0]!, seconds: openSeconds, windows: num('side-by-side', 6), clients, dir });
    console.log(`\nload average at the end: ${load()}`);
    return;
  }
  process.stderr.write(`api bench: ${creates} saturated creates by ${clients} clients; open loop at ${rates.join(', ')}/s for ${openSeconds} s each; ${watchers} watchers; data in ${dir}; load average ${load()}\n`);
  const results: Result[] = [];
  for (const build of builds) {
    for (const s of storages) {
      process.stderr.write(`  ${builds.length > 1 ? `${build} ` : ''}${s}...\n`);
      results.push(await runOne(build, s, { creates, clients, watchers, rates, openSeconds, cpuProf, dir }));
    }
  }
  const f = (n: number) => n.toFixed(1);
  const label = (r: Result) => (builds.length > 1 ? `${r.build} ${r.storage}` : r.storage);
  console.log(`load average at the end: ${load()}\n`);
  console.log(`Saturated (closed loop, ${clients} clients):\n`);
  console.log(`| storage | creates/s | p50 ms | p99 ms | Little's law ${clients}/rate ms | server CPU ms/create | server loop delay p99 ms | max ms |`);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${label(r)} | ${r.createRate.toFixed(0)} | ${f(r.createP50)} | ${f(r.createP99)} | ${f((clients / r.createRate) * 1000)} | ${r.cpuMsPerCreate.toFixed(2)} | ${f(r.saturatedLoop.p99)} | ${f(r.saturatedLoop.max)} |`);
  }
  console.log(`\nOpen loop (creates on a fixed schedule over ${clients} connections):\n`);
  console.log('| storage | offered/s | achieved/s | create p50 ms | p99 ms | p99.9 ms | max ms | get meanwhile p99 ms | max ms | server loop delay p99 ms | max ms | load generator loop p99 ms | disk fdatasync p50 / p99 / max ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const x of r.open) {
      const disk = x.disk ? `${x.disk.p50.toFixed(2)} / ${f(x.disk.p99)} / ${f(x.disk.max)}` : '';
      console.log(`| ${label(r)} | ${x.offered} | ${x.achieved.toFixed(0)} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.p999)} | ${f(x.max)} | ${f(x.getP99)} | ${f(x.getMax)} | ${f(x.loop.p99)} | ${f(x.loop.max)} | ${f(x.genLoopP99)} | ${disk} |`);
    }
  }
  console.log(`\nReads and watch:\n`);
  console.log(`| storage | get p50 ms | get p99 ms | list ${creates} (label selector) ms | watch fan-out (${watchers}) p50 ms | p99 ms |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${label(r)} | ${f(r.getP50)} | ${f(r.getP99)} | ${f(r.listMs)} | ${f(r.watchP50)} | ${f(r.watchP99)} |`);
}

main().catch((e) => { console.error(e); process.exit(1); });
