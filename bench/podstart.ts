// Pod start latency: from the create call to the pod's Ready condition being
// True in a watch event, for pods of a built-in image (the generic server,
// what `nginx` runs) on a real 3-node namespace topology. Runs inside a
// private sandbox (new network, mount and PID namespaces): it re-executes
// itself there. Needs root, `ip` and `unshare`.
//
//   npm run build && node dist/bench/podstart.js [--pods 100] [--concurrency 1,10]
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KObject, WatchEvent } from '../src/client/types.js';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import { podsResource, startNodeCluster, waitFor, type NodeCluster } from '../src/node/testdata/cluster.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Row { label: string; n: number; p50: number; p90: number; p99: number; max: number }

function row(label: string, xs: number[]): Row {
  const s = [...xs].sort((a, b) => a - b);
  return { label, n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] ?? NaN };
}

async function run(c: NodeCluster, pods: number, concurrency: number, tag: string): Promise<Row[]> {
  const created = new Map<string, number>();
  const running = new Map<string, number>();
  const ready = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const list = await c.client.list(podsResource, 'default');
  const handle = c.client.watch<Pod & KObject>(podsResource, 'default', { resourceVersion: list.metadata.resourceVersion }, (e: WatchEvent<Pod & KObject>) => {
    const name = e.object.metadata?.name ?? '';
    if (!created.has(name)) return;
    const now = performance.now();
    if (e.object.status?.phase === 'Running' && !running.has(name)) running.set(name, now - created.get(name)!);
    if (e.object.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') && !ready.has(name)) {
      ready.set(name, now - created.get(name)!);
      waiters.get(name)?.();
    }
  }, () => undefined);
  const nodes = c.topology.nodes.map((n) => n.name);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= pods) return;
      const name = `${tag}-${i}`;
      const done = new Promise<void>((r) => waiters.set(name, r));
      created.set(name, performance.now());
      await c.createPod(name, nodes[i % nodes.length]!, { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] });
      await done;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wall = performance.now() - t0;
  handle.close();
  // Clean up between runs: delete (graceful; the generic server stops on SIGTERM) and wait until gone.
  const del0 = performance.now();
  await Promise.all([...created.keys()].map((n) => c.client.delete(podsResource, 'default', n, {})));
  await waitFor('pods deleted', async () => ((await c.client.list(podsResource, 'default')).items.length === 0 ? true : undefined), 120_000, 100);
  const delWall = performance.now() - del0;
  process.stdout.write(`  concurrency ${concurrency}: ${pods} pods Ready in ${(wall / 1000).toFixed(1)} s; all deleted in ${(delWall / 1000).toFixed(1)} s\n`);
  return [row(`create → Running (concurrency ${concurrency})`, [...running.values()]), row(`create → Ready (concurrency ${concurrency})`, [...ready.values()])];
}

async function main(): Promise<void> {
  const pods = Number(arg('pods', '100'));
  const levels = arg('concurrency', '1,10').split(',').map(Number);
  const c = await startNodeCluster({ prefix: 'bench', nodes: ['n1', 'n2', 'n3'] });
  const rows: Row[] = [];
  try {
    // Warm-up: the first pod pays for module loading in the built-in image's node process.
    await run(c, 3, 1, 'warm');
    for (const n of levels) rows.push(...await run(c, pods, n, `c${n}`));
  } finally {
    await c.close();
  }
  const f = (x: number): string => `${x.toFixed(0)} ms`;
  process.stdout.write(`\nPod start latency, built-in image, 3 nodes (${pods} pods per run)\n\n`);
  process.stdout.write('| measure | pods | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.label} | ${r.n} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} |\n`);
}

if (process.env[SANDBOX_ENV] === '1') {
  main().catch((e: unknown) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
} else {
  const why = sandboxUnsupported();
  if (why) {
    process.stderr.write(`podstart benchmark skipped: ${why}\n`);
  } else {
    const r = await runInSandbox([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
    process.exitCode = r.code;
  }
}
