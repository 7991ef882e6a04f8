// API benchmark: create / get / list / watch fan-out against `svcnet apiserver`
// run as a child process (so the load generator does not share its event
// loop), once on memory storage and once on SQLite, in the same run.
//
//   npm run build && node dist/bench/api.js [--creates 5000] [--clients 100] [--watchers 100]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

interface Target { base: URL; token: string; agent: Agent; child: ChildProcess; dir: string }

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function startServer(storage: 'memory' | 'sqlite'): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-bench-'));
  const main = new URL('../src/cli/main.js', import.meta.url).pathname;
  const store = storage === 'memory' ? 'memory' : `sqlite:${dir}/state.db`;
  const child = spawn(process.execPath, ['-e', `import(${JSON.stringify(main)}).then(m => m.main(process.argv.slice(1)))`,
    'apiserver', '--listen', '127.0.0.1:0', '--data-dir', dir, '--storage', store, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const kc = join(dir, 'kubeconfig');
  for (let i = 0; i < 200 && !existsSync(kc); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(kc)) throw new Error('apiserver did not start');
  const cfg = parse(readFileSync(kc, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
  const ca = Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64');
  return { base: new URL(cfg.clusters[0]!.cluster.server), token: cfg.users[0]!.user.token, agent: new Agent({ keepAlive: true, maxSockets: 256, ca }), child, dir };
}

async function stopServer(t: Target): Promise<void> {
  t.agent.destroy();
  const exited = new Promise((r) => t.child.once('exit', r));
  t.child.kill('SIGTERM');
  await exited;
  rmSync(t.dir, { recursive: true, force: true });
}

function call(t: Target, method: string, path: string, body?: unknown): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      host: t.base.hostname, port: t.base.port, method, path, agent: t.agent,
      headers: { Authorization: `Bearer ${t.token}`, 'Content-Type': 'application/json', ...(data ? { 'Content-Length': Buffer.byteLength(data) } : {}) },
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

interface Result { storage: string; createP50: number; createP99: number; createRate: number; openP50: number; openP99: number; getP50: number; getP99: number; listMs: number; watchP50: number; watchP99: number }

async function runOne(storage: 'memory' | 'sqlite', creates: number, clients: number, watchers: number, openCreates: number, interval: number): Promise<Result> {
  const t = await startServer(storage);
  try {
    // Warm up: one connection (TLS handshake) per client and the server's JIT, not measured.
    await Promise.all(Array.from({ length: clients }, async (_, i) => {
      await call(t, 'GET', '/api/v1/namespaces/default/configmaps?limit=1');
      await call(t, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `warm-${i}` } });
    }));
    const lat: number[] = [];
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= creates) return;
        const [r, ms] = await timed(() => call(t, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, labels: { bench: 'x', n: String(i % 10) } }, data: { k: 'v'.repeat(64) } }));
        if (r.code !== 201) throw new Error(`create ${i}: ${r.code} ${r.body}`);
        lat.push(ms);
      }
    }));
    const createRate = creates / ((Date.now() - t0) / 1000);
    // Open loop: the same clients, each sending one create every `interval` ms whatever the answers do,
    // so latency is measured at a fixed offered load rather than at saturation.
    const olat: number[] = [];
    const perClient = Math.max(1, Math.floor(openCreates / clients));
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      const inflight: Promise<void>[] = [];
      await new Promise((r) => setTimeout(r, (c * interval) / clients));
      for (let k = 0; k < perClient; k++) {
        inflight.push(timed(() => call(t, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `open-${c}-${k}` }, data: { k: 'v'.repeat(64) } }))
          .then(([r, ms]) => { if (r.code !== 201) throw new Error(`open create: ${r.code}`); olat.push(ms); }));
        await new Promise((r) => setTimeout(r, interval));
      }
      await Promise.all(inflight);
    }));
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
    const [, listMs] = await timed(() => call(t, 'GET', '/api/v1/namespaces/default/configmaps'));
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
      await call(t, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { w: '1' } } });
      for (let k = 0; k < 500 && (seen.get(name)?.length ?? 0) < watchers; k++) await new Promise((r) => setTimeout(r, 2));
      for (const at of seen.get(name) ?? []) wlat.push(at - start);
    }
    reqs.forEach((r) => r.destroy());
    return { storage, createP50: pct(lat, 50), createP99: pct(lat, 99), createRate, openP50: pct(olat, 50), openP99: pct(olat, 99), getP50: pct(glat, 50), getP99: pct(glat, 99), listMs, watchP50: pct(wlat, 50), watchP99: pct(wlat, 99) };
  } finally {
    await stopServer(t);
  }
}

async function main(): Promise<void> {
  const creates = arg('creates', 5000);
  const clients = arg('clients', 100);
  const watchers = arg('watchers', 100);
  const interval = arg('interval', 200);
  const openCreates = arg('open-creates', 2000);
  process.stderr.write(`api bench: ${creates} creates by ${clients} concurrent clients, ${watchers} watchers\n`);
  const results: Result[] = [];
  for (const s of ['memory', 'sqlite'] as const) {
    process.stderr.write(`  ${s}...\n`);
    results.push(await runOne(s, creates, clients, watchers, openCreates, interval));
  }
  const f = (n: number) => n.toFixed(1);
  const offered = (clients * 1000) / interval;
  console.log(`| storage | saturated create p50 ms | p99 ms | creates/s | open-loop create (${offered}/s) p50 ms | p99 ms | get p50 ms | get p99 ms | list ${creates} ms | watch fan-out (${watchers}) p50 ms | p99 ms |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.storage} | ${f(r.createP50)} | ${f(r.createP99)} | ${r.createRate.toFixed(0)} | ${f(r.openP50)} | ${f(r.openP99)} | ${f(r.getP50)} | ${f(r.getP99)} | ${f(r.listMs)} | ${f(r.watchP50)} | ${f(r.watchP99)} |`);
  const [m, s] = results;
  console.log(`\nsqlite/memory ratios (same run): saturated create p99 ${(s!.createP99 / m!.createP99).toFixed(2)}, open-loop create p99 ${(s!.openP99 / m!.openP99).toFixed(2)}, creates/s ${(s!.createRate / m!.createRate).toFixed(2)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
