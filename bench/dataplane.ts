// Shared by the data-plane benchmarks (bench/proxy.ts part 4, bench/userspace.ts):
// - netload (bench/netload.c), a C load generator and server built here with `cc -O2`,
//   so that the client and the server are not what is measured;
// - CPU pinning (taskset), the same for every arm of a comparison;
// - CPU time of a live process from /proc/PID/task/*/schedstat (ns, every thread);
// - paired statistics: per-round ratios of two arms measured back to back, their
//   median, interquartile range and a bootstrap 95 % confidence interval of the median,
//   and a verdict against a goal.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { prng } from '../src/api/testing/prng.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// ------------------------------------------------------------------ netload

/** bench/netload.c, found above this file (the compiled benchmark lives in a build dir below the repo). */
function netloadSource(from: string): string {
  for (let d = dirname(from); ; d = dirname(d)) {
    const p = join(d, 'bench', 'netload.c');
    if (existsSync(p)) return p;
    if (dirname(d) === d) throw new Error('bench/netload.c not found above ' + from);
  }
}

/** Compiles netload into a temporary directory; `cleanup()` removes it. Undefined (with a reason) without a C compiler. */
export function buildNetload(from: string): { path: string; cleanup: () => void } | { error: string } {
  const src = netloadSource(from);
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-netload-'));
  const path = join(dir, 'netload');
  for (const cc of ['cc', 'gcc', 'clang']) {
    const r = spawnSync(cc, ['-O2', '-o', path, src], { encoding: 'utf8' });
    if (r.status === 0) return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    rmSync(dir, { recursive: true, force: true });
    return { error: `${cc} failed: ${r.stderr.trim()}` };
  }
  rmSync(dir, { recursive: true, force: true });
  return { error: 'no C compiler (cc, gcc, clang): apt-get install gcc' };
}

export interface NetloadResult { ns: number; cpuNs: number; bytes: number; conns: number; errors: number }

/** A long-lived netload client: one command per round, its answer with its own CPU time. */
export class NetloadClient {
  private out = '';
  private waiting: ((line: string) => void)[] = [];
  private err = '';
  readonly child: ChildProcess;

  /** `prefix`: e.g. ['ip', 'netns', 'exec', NS] and/or ['taskset', '-c', CPU]: every one of them execs the next. */
  constructor(netload: string, prefix: string[] = []) {
    const argv = [...prefix, netload, 'client'];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => {
      this.out += b.toString();
      for (let i = this.out.indexOf('\n'); i >= 0; i = this.out.indexOf('\n')) {
        const line = this.out.slice(0, i);
        this.out = this.out.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.child.stderr!.on('data', (b: Buffer) => { this.err += b.toString(); });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w(`{"exit":${code ?? -1}}`);
    });
  }

  run(cmd: string): Promise<NetloadResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => {
        const r = JSON.parse(line) as NetloadResult & { exit?: number };
        if (r.exit !== undefined) reject(new Error(`netload client exited ${r.exit}: ${this.err.trim()}`));
        else resolve(r);
      });
      this.child.stdin!.write(`${cmd}\n`);
    });
  }

  close(): void {
    this.child.stdin!.end();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Starts `argv` and waits for a line containing `ready` on its stdout. */
export async function startReady(argv: string[], what: string): Promise<ChildProcess> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`${what} exited ${code}`)));
  });
  return child;
}

// ------------------------------------------------------------------ CPUs

/** The CPUs this process may run on (taskset's view). */
export function allowedCpus(): number[] {
  const r = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  const list = /:\s*([\d,-]+)\s*$/.exec(r.stdout ?? '')?.[1];
  if (!list) return cpus().map((_, i) => i);
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/**
 * `taskset -c CPU` (nothing when taskset is missing), and with `rt` also `chrt -f 50`:
 * SCHED_FIFO, so that the measured processes run whenever they are runnable instead of
 * sharing their CPU with whatever else the machine runs (the kernel's RT throttling
 * still leaves others 5 % of each second). Every one of them execs the next.
 */
export function pin(cpu: number, rt = false): string[] {
  const ts = spawnSync('taskset', ['-V']).status === 0 ? ['taskset', '-c', String(cpu)] : [];
  return rt ? [...ts, 'chrt', '-f', '50'] : ts;
}

/** SCHED_FIFO works here (root, no RT group scheduling in the way). */
export function rtAvailable(): boolean {
  return spawnSync('chrt', ['-f', '50', 'true']).status === 0;
}

/**
 * CPU time and run-queue wait (ns) of every thread of a live process so far (schedstat:
 * ns, not ticks): what it ran, and how long it was runnable but another task had its CPU.
 */
export function processSched(pid: number | undefined): { cpuNs: number; waitNs: number } {
  let cpuNs = 0;
  let waitNs = 0;
  if (pid === undefined) return { cpuNs, waitNs };
  let tasks: string[];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return { cpuNs, waitNs }; }
  for (const t of tasks) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ');
      cpuNs += Number(f[0]);
      waitNs += Number(f[1]);
    } catch { /* thread gone */ }
  }
  return { cpuNs, waitNs };
}

/** CPU time (ns) every thread of a live process has run so far. */
export function processCpuNs(pid: number | undefined): number {
  return processSched(pid).cpuNs;
}

export const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

// ------------------------------------------------------------------ statistics

export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
export const median = (xs: readonly number[]): number => quantile(xs, 0.5);


/** Percentile bootstrap 95 % confidence interval of the median. */
export function bootstrapMedianCI(xs: readonly number[], resamples = 4000, seed = 12345): [number, number] {
  if (xs.length < 2) return [NaN, NaN];
  const rnd = prng(seed);
  const meds: number[] = [];
  const s = new Array<number>(xs.length);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < xs.length; i++) s[i] = xs[Math.floor(rnd() * xs.length)]!;
    meds.push(median(s));
  }
  return [quantile(meds, 0.025), quantile(meds, 0.975)];
}

export interface Paired {
  /** Per-round ratios a[r] / b[r]. */
  ratios: number[];
  median: number;
  q1: number;
  q3: number;
  ci: [number, number];
}

export function paired(a: readonly number[], b: readonly number[]): Paired {
  const ratios = a.map((x, i) => x / b[i]!).filter((x) => Number.isFinite(x));
  return { ratios, median: median(ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75), ci: bootstrapMedianCI(ratios) };
}

export function fmtPaired(p: Paired, d = 3): string {
  return `${p.median.toFixed(d)} (95% CI ${p.ci[0].toFixed(d)}–${p.ci[1].toFixed(d)}, IQR ${p.q1.toFixed(d)}–${p.q3.toFixed(d)}, n=${p.ratios.length})`;
}

/** met: the whole interval is at or above the goal; not met: the whole interval is below; otherwise inconclusive. */
export function verdict(p: Paired, goal: number): 'met' | 'NOT met' | 'inconclusive' {
  if (p.ci[0] >= goal) return 'met';
  if (p.ci[1] < goal) return 'NOT met';
  return 'inconclusive';
}
