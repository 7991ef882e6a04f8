// Container probes as kubelet's prober runs them (pkg/kubelet/prober):
//
// - a worker per (container, probe type) probes every periodSeconds, first
//   after initialDelaySeconds from the container's start, each attempt bounded
//   by timeoutSeconds;
// - the result flips only after successThreshold consecutive successes or
//   failureThreshold consecutive failures (`probeStep`, pure);
// - initial results: readiness Failure, liveness Success, startup Unknown;
// - liveness and readiness do not run until the startup probe has passed;
// - a liveness or startup failure puts the worker on hold (the container is
//   being restarted; a new worker comes with the new container).
//
// httpGet and tcpSocket leave from the NODE's namespace, as kubelet's do: one
// long-lived helper process per node (builtin/probehelper.js) serves them over
// stdin/stdout, so a probe costs a socket, not a process. exec runs the
// command in the pod's namespace with the container's environment.
import type { Container, Probe } from 'kubernetes-types/core/v1.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock, type TimerHandle } from '../client/clock.js';
import { NodeError } from './errors.js';
import { runCommand } from './netns.js';
import { systemTool } from './runtime.js';

export type ProbeType = 'liveness' | 'readiness' | 'startup';
export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ProbeThresholds { successThreshold: number; failureThreshold: number }

export interface ProbeWorkerState {
  /** The published result. */
  result: ProbeResult;
  /** The last attempt's outcome and how many in a row. */
  lastOutcome?: 'success' | 'failure';
  run: number;
  /** Liveness/startup failed: stop until the container is replaced. */
  onHold: boolean;
}

export function initialProbeState(type: ProbeType): ProbeWorkerState {
  return { result: type === 'readiness' ? 'failure' : type === 'liveness' ? 'success' : 'unknown', run: 0, onHold: false };
}

/** One attempt's outcome into the worker state (kubelet worker.doProbe's bookkeeping). */
export function probeStep(type: ProbeType, s: ProbeWorkerState, outcome: 'success' | 'failure', t: ProbeThresholds): { state: ProbeWorkerState; changed: boolean } {
  const run = s.lastOutcome === outcome ? s.run + 1 : 1;
  const next: ProbeWorkerState = { ...s, lastOutcome: outcome, run };
  if ((outcome === 'failure' && run < t.failureThreshold) || (outcome === 'success' && run < t.successThreshold)) {
    return { state: next, changed: false };
  }
  const changed = next.result !== outcome;
  next.result = outcome;
  if ((type === 'liveness' || type === 'startup') && outcome === 'failure') {
    next.onHold = true;
    next.run = 0;
  }
  return { state: next, changed };
}

/** What one attempt does, with named ports resolved and defaults applied. */
export type ProbeAction =
  | { kind: 'http'; host: string; port: number; path: string; scheme: 'HTTP' | 'HTTPS'; headers: { name: string; value: string }[] }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'exec'; command: string[] }
  | { kind: 'sleep'; seconds: number }
  | { kind: 'unsupported'; why: string };

/** A numeric port, or a named containerPort of the container. */
export function resolvePort(port: number | string | undefined, c: Pick<Container, 'ports'>): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

type Handler = Pick<Probe, 'httpGet' | 'tcpSocket' | 'exec' | 'grpc'> & { sleep?: { seconds: number } };

export function probeAction(h: Handler, c: Pick<Container, 'ports'>, podIP: string): ProbeAction {
  if (h.exec) return { kind: 'exec', command: [...(h.exec.command ?? [])] };
  if (h.httpGet) {
    const port = resolvePort(h.httpGet.port, c);
    if (port === undefined) return { kind: 'unsupported', why: `unable to find port "${String(h.httpGet.port)}"` };
    const path = h.httpGet.path ?? '/';
    return {
      kind: 'http', host: h.httpGet.host || podIP, port, path: path.startsWith('/') ? path : `/${path}`,
      scheme: (h.httpGet.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP',
      headers: (h.httpGet.httpHeaders ?? []).map((x) => ({ name: x.name, value: x.value })),
    };
  }
  if (h.tcpSocket) {
    const port = resolvePort(h.tcpSocket.port, c);
    if (port === undefined) return { kind: 'unsupported', why: `unable to find port "${String(h.tcpSocket.port)}"` };
    return { kind: 'tcp', host: h.tcpSocket.host || podIP, port };
  }
  if (h.sleep) return { kind: 'sleep', seconds: h.sleep.seconds };
  if (h.grpc) {
    return { kind: 'unsupported', why: 'grpc probes are not supported by svcnet' };
  }
  return { kind: 'unsupported', why: 'no probe handler' };
}

export interface ProbeOutcome { ok: boolean; output: string }

/** Runs one probe or lifecycle-hook action. */
export interface ProbeExecutor {
  run(action: ProbeAction, timeoutMs: number, target: { podNetns: string; env: Readonly<Record<string, string>> }): Promise<ProbeOutcome>;
}

export interface ProbeWorkerOptions {
  type: ProbeType;
  probe: Probe;
  container: Pick<Container, 'ports'>;
  podIP: string;
  podNetns: string;
  env: Readonly<Record<string, string>>;
  /** Epoch ms at which the container started. */
  startedAt: number;
  executor: ProbeExecutor;
  clock?: Clock;
  /** Told each time the published result changes. */
  onResult(result: ProbeResult, output: string): void;
  /** Whether the worker may probe now (liveness/readiness wait for startup). */
  gate?(): boolean;
}

/** One probe of one container: a timer loop around probeStep. Owned by the container; close() stops it. */
export class ProbeWorker {
  private state: ProbeWorkerState;
  private timer: TimerHandle | undefined;
  private closed = false;
  private readonly clock: Clock;
  private readonly t: ProbeThresholds;
  private readonly periodMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly o: ProbeWorkerOptions) {
    this.clock = o.clock ?? systemClock;
    this.state = initialProbeState(o.type);
    const p = o.probe;
    // Liveness and startup must have successThreshold 1 (validation); be lenient anyway.
    this.t = { successThreshold: o.type === 'readiness' ? Math.max(1, p.successThreshold ?? 1) : 1, failureThreshold: Math.max(1, p.failureThreshold ?? 3) };
    this.periodMs = Math.max(1, p.periodSeconds ?? 10) * 1000;
    this.timeoutMs = Math.max(1, p.timeoutSeconds ?? 1) * 1000;
    const first = Math.max(0, o.startedAt + (p.initialDelaySeconds ?? 0) * 1000 - this.clock.now());
    this.timer = this.clock.setTimeout(() => void this.tick(), first);
  }

  get result(): ProbeResult { return this.state.result; }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    if (!this.state.onHold && (this.o.gate?.() ?? true)) {
      const action = probeAction(this.o.probe, this.o.container, this.o.podIP);
      let out: ProbeOutcome;
      if (action.kind === 'unsupported') out = { ok: false, output: action.why };
      else {
        try {
          out = await this.o.executor.run(action, this.timeoutMs, { podNetns: this.o.podNetns, env: this.o.env });
        } catch (e) {
          out = { ok: false, output: e instanceof Error ? e.message : String(e) };
        }
      }
      if (this.closed) return;
      const r = probeStep(this.o.type, this.state, out.ok ? 'success' : 'failure', this.t);
      this.state = r.state;
      if (r.changed) this.o.onResult(this.state.result, out.output);
      // A passed startup probe is done for the container's life.
      if (this.o.type === 'startup' && this.state.result === 'success') return;
    }
    if (!this.closed) this.timer = this.clock.setTimeout(() => void this.tick(), this.periodMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Path of a compiled built-in script (builtin/<name>.js next to this file). */
export function builtinScript(name: string): string {
  return fileURLToPath(new URL(`./builtin/${name}.js`, import.meta.url));
}

interface Pending { resolve(r: { ok: boolean; status?: number; body?: string; error?: string }): void; timer: NodeJS.Timeout }

/**
 * The real executor for one node: httpGet/tcpSocket through the node's helper
 * process, exec through `ip netns exec <pod>`. Started lazily; close() ends
 * the helper (its stdin closes and it exits).
 */
export class NodeProber implements ProbeExecutor {
  private helper: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf = '';
  private closed = false;

  private readonly ip: string;

  constructor(private readonly nodeNetns: string, private readonly opts: { ip?: string; nodeBinary?: string } = {}) {
    this.ip = opts.ip ?? systemTool('ip');
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const child = spawn(this.ip, ['netns', 'exec', this.nodeNetns, this.opts.nodeBinary ?? process.execPath, builtinScript('probehelper')],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    this.helper = child;
    this.ready = new Promise<void>((resolve, reject) => {
      const onLine = (line: string): void => {
        let m: { id: number; ok: boolean; status?: number; body?: string; error?: string };
        try { m = JSON.parse(line) as typeof m; } catch { return; }
        if (m.id === 0) { resolve(); return; }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve(m);
      };
      child.stdout!.on('data', (d: Buffer) => {
        this.buf += d.toString();
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) { const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1); onLine(line); }
      });
      child.on('error', (e) => reject(new NodeError('PROBE_HELPER_FAILED', `probe helper in ${this.nodeNetns}: ${e.message}`)));
      child.on('exit', (code) => {
        const err = `probe helper in ${this.nodeNetns} exited (${code})`;
        reject(new NodeError('PROBE_HELPER_FAILED', err));
        for (const [id, p] of this.pending) { clearTimeout(p.timer); p.resolve({ ok: false, error: err }); this.pending.delete(id); }
        // Restart on next use unless closed.
        if (this.helper === child) { this.helper = undefined; this.ready = undefined; }
      });
    });
    child.stdin!.on('error', () => undefined);
    return this.ready;
  }

  private async ask(req: Record<string, unknown>, timeoutMs: number): Promise<{ ok: boolean; status?: number; body?: string; error?: string }> {
    if (this.closed) return { ok: false, error: 'prober closed' };
    await this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      // The helper enforces the timeout; this is a backstop for a wedged helper.
      const timer = setTimeout(() => { this.pending.delete(id); resolve({ ok: false, error: 'probe helper did not answer' }); }, timeoutMs + 2000);
      this.pending.set(id, { resolve, timer });
      this.helper!.stdin!.write(JSON.stringify({ id, ...req, timeoutMs }) + '\n');
    });
  }

  async run(action: ProbeAction, timeoutMs: number, target: { podNetns: string; env: Readonly<Record<string, string>> }): Promise<ProbeOutcome> {
    switch (action.kind) {
      case 'http': {
        const r = await this.ask({ type: 'http', host: action.host, port: action.port, path: action.path, scheme: action.scheme, headers: action.headers }, timeoutMs);
        const url = `${action.scheme.toLowerCase()}://${action.host.includes(':') ? `[${action.host}]` : action.host}:${action.port}${action.path}`;
        if (r.error) return { ok: false, output: `Get "${url}": ${r.error}` };
        return { ok: r.ok, output: r.ok ? (r.body ?? '') : `HTTP probe failed with statuscode: ${r.status}` };
      }
      case 'tcp': {
        const r = await this.ask({ type: 'tcp', host: action.host, port: action.port }, timeoutMs);
        return { ok: r.ok, output: r.error ?? '' };
      }
      case 'exec': {
        const r = await runCommand(this.ip, ['netns', 'exec', target.podNetns, ...action.command], { env: target.env, timeoutMs });
        if (r.timedOut) return { ok: false, output: `command timed out: "${action.command.join(' ')}" timed out after ${timeoutMs / 1000}s` };
        return { ok: r.code === 0, output: (r.stdout + r.stderr).slice(0, 10 * 1024) };
      }
      case 'sleep':
        await new Promise((r) => setTimeout(r, action.seconds * 1000));
        return { ok: true, output: '' };
      case 'unsupported':
        return { ok: false, output: action.why };
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.resolve({ ok: false, error: 'prober closed' }); }
    this.pending.clear();
    const h = this.helper;
    this.helper = undefined;
    if (h) {
      h.stdin?.end();
      // The helper exits on stdin end; make sure of it.
      const t = setTimeout(() => { try { h.kill('SIGKILL'); } catch { /* gone */ } }, 1000);
      h.once('exit', () => clearTimeout(t));
    }
  }
}
