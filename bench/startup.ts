// Startup benchmark: `svcnet up --nodes 3` to the first successful curl
// through a ClusterIP (a 1-replica nginx Deployment exposed by a Service,
// curled from a node), and the RSS of the svcnet process then. Runs inside a
// private sandbox (unshare --net --mount --pid): nothing touches the host.
// Also reported: where the time goes (the one kubectl apply, the wait for the
// pod and the proxy), the CPU time the svcnet process used until then (less
// noisy than wall time on a busy machine), and the load average around the runs.
//   npm run build && node dist/bench/startup.js [--runs 3]
import { spawn } from 'node:child_process';
import { NODE_FLAGS } from '../src/cluster/node-flags.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import { nodeNetnsName } from '../src/node/names.js';

const self = fileURLToPath(import.meta.url);
const main = fileURLToPath(new URL('../src/cli/entry.js', import.meta.url));

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => { out += d; });
    c.stderr!.on('data', (d: Buffer) => { out += d; });
    c.on('exit', (code) => resolve({ code: code ?? 1, out }));
    if (input !== undefined) c.stdin!.end(input);
  });
}

interface Run { upMs: number; kubectlMs: number; curlMs: number; rssMB: number; upCpuMs: number; cpuMs: number; tries: number }

/** user + system CPU time of a process so far (ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function once(): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-startup-'));
  const env = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: join(dir, 'kubeconfig') };
  const t0 = Date.now();
  const up = spawn(process.execPath, [...NODE_FLAGS, main, 'up', '--data-dir', dir, '--listen', '127.0.0.1:0', '--nodes', '3', '--quiet', '-o', 'json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  up.stdout.on('data', (d: Buffer) => { out += d; });
  try {
    while (!out.includes('"apiServer"')) {
      if (Date.now() - t0 > 30_000) throw new Error('svcnet up did not come up');
      await new Promise((r) => setTimeout(r, 10));
    }
    const upMs = Date.now() - t0;
    const upCpuMs = cpuMs(up.pid!);
    // One kubectl process (each costs ~0.2–0.3 s of its own start and discovery): what
    // `kubectl create deployment web --image=nginx && kubectl expose deployment web
    // --port=80` makes, with the ClusterIP chosen so that no `get` is needed.
    const ip = '10.96.100.100';
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: ${ip}, selector: {app: web}, ports: [{port: 80, targetPort: 80}]}
`;
    const applied = await sh('/usr/bin/kubectl', ['apply', '-f', '-'], env, manifest);
    if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.out}`);
    const kubectlMs = Date.now() - t0 - upMs;
    const { prefix } = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { prefix: string };
    let tries = 0;
    for (;;) {
      tries++;
      // Straight into node-1's namespace: the figure is the cluster's, not `svcnet exec`'s start.
      const r = await sh('ip', ['netns', 'exec', nodeNetnsName(prefix, 'node-1'), 'curl', '-s', '--connect-timeout', '0.2', '-m', '1', `http://${ip}/`], env);
      if (r.code === 0 && r.out.startsWith('web-')) break;
      if (Date.now() - t0 > 60_000) throw new Error(`no answer through ${ip}: ${r.out}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const curlMs = Date.now() - t0;
    const status = readFileSync(`/proc/${up.pid}/status`, 'utf8');
    const rssMB = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    return { upMs, kubectlMs, curlMs, rssMB, upCpuMs, cpuMs: cpuMs(up.pid!), tries };
  } finally {
    const done = new Promise((r) => up.once('exit', r));
    up.kill('SIGINT');
    await done;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inside(): Promise<void> {
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 3;
  const results: Run[] = [];
  const load0 = loadavg()[0]!;
  for (let r = 0; r < runs; r++) {
    const x = await once();
    process.stderr.write(`  run ${r + 1}: up ${x.upMs} ms (CPU ${x.upCpuMs} ms), kubectl apply ${x.kubectlMs} ms, first curl ${x.curlMs} ms after ${x.tries} tries (CPU ${x.cpuMs} ms), RSS ${x.rssMB.toFixed(0)} MB\n`);
    results.push(x);
  }
  const med = (f: (x: Run) => number) => results.map(f).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log('| measure (3 nodes, median of ' + runs + ') | svcnet | kind | k3d | minikube |');
  console.log('|---|---|---|---|---|');
  console.log(`| \`up\` until the API and nodes are ready | ${s(med((x) => x.upMs))} | | | |`);
  console.log(`| … of it CPU time of the svcnet process | ${s(med((x) => x.upCpuMs))} | | | |`);
  console.log(`| … then kubectl apply of a Deployment and a Service | ${s(med((x) => x.kubectlMs))} | | | |`);
  console.log(`| \`up\` to first curl through a ClusterIP | ${s(med((x) => x.curlMs))} | 33 s | 19.9 s | 50.8 s |`);
  console.log(`| RSS of the svcnet process | ${med((x) => x.rssMB).toFixed(0)} MB | | | |`);
  console.log(`\nload average (1 min): ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
}

if (process.env[SANDBOX_ENV] === '1') {
  inside().catch((e) => { console.error(e); process.exit(1); });
} else {
  const why = sandboxUnsupported();
  if (why) { console.error(`startup bench needs real namespaces: ${why}`); process.exit(1); }
  runInSandbox([process.execPath, self, ...process.argv.slice(2)], { timeoutMs: 300_000 }).then((r) => process.exit(r.code));
}
