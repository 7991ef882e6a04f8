// One worker per pod (by uid), as kubelet's pod workers: every change (the
// pod object, a container exit, a probe result, a timer) marks the worker
// dirty, and one sync at a time brings the runtime to what the pod asks for,
// then writes the pod's status if it changed.
//
// sync: deleted or deletionTimestamp → terminate (preStop, SIGTERM, grace,
// SIGKILL, sandbox down, final status, delete with gracePeriodSeconds=0 and a
// uid precondition); terminal → nothing; no sandbox → make it; init
// containers in order; then every container, restarting exited ones as
// restartPolicy says with kubelet's crash-loop backoff (first restart at
// once, then 10 s doubling to 5 min, reset after 10 min without a crash).
import type { ConfigMap, Container, LifecycleHandler, Pod, PodStatus, Service } from 'kubernetes-types/core/v1.js';
import { isStatusError } from '../api/errors.js';
import { findByKind } from '../api/resources.js';
import type { Clock, TimerHandle } from '../client/clock.js';
import { errorText, type Logger } from '../client/log.js';
import type { Client } from '../client/types.js';
import { containerEnv, expandVars } from './env.js';
import { resolveContainerCommand } from './images.js';
import type { IpamStore } from './ipam.js';
import { ContainerStdin, type AttachTarget } from './attach.js';
import { NO_SCRIPT, onTerminal, type ExecTarget } from './exec.js';
import type { Netns } from './netns.js';
import { probeAction, ProbeWorker, type ProbeExecutor, type ProbeResult, type ProbeType } from './probes.js';
import {
  createSandbox, destroySandbox, type ExitStatus, type PodRecord, type ProcessRunner, type RecordStore, type SandboxConfig,
  type StartedProcess,
} from './runtime.js';
import { computePodStatus, containerIDFor, type ContainerStateView, type ContainerView, type TerminatedView } from './status.js';

const podsResource = findByKind('v1', 'Pod')!;
/** kubelet's minimumGracePeriodInSeconds: SIGTERM always gets at least this long. */
const MIN_GRACE_MS = 2000;

export interface BackoffConfig { initialMs: number; maxMs: number }

/** kubelet's flowcontrol.Backoff as used for crash loops, keyed by container. */
export class CrashBackoff {
  private readonly entries = new Map<string, { durationMs: number; lastUpdate: number }>();
  constructor(private readonly cfg: BackoffConfig) {}

  /** Still backing off from an exit at `finishedAt`? */
  inBackoffSince(key: string, finishedAt: number, now: number): boolean {
    const e = this.entries.get(key);
    return !!e && now - finishedAt < e.durationMs;
  }

  get(key: string): number { return this.entries.get(key)?.durationMs ?? 0; }

  next(key: string, at: number): void {
    const e = this.entries.get(key);
    if (!e || at - e.lastUpdate > 2 * this.cfg.maxMs) {
      this.entries.set(key, { durationMs: this.cfg.initialMs, lastUpdate: at });
    } else {
      this.entries.set(key, { durationMs: Math.min(e.durationMs * 2, this.cfg.maxMs), lastUpdate: at });
    }
  }
}

/** Go's time.Duration String at millisecond precision ("300ms", "10s", "1.5s", "1m20s", "5m0s", "1h0m0s"). */
export function goDuration(ms: number): string {
  ms = Math.round(ms);
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = ((ms % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

export interface PodWorkerDeps {
  prefix: string;
  nodeName: string;
  nodeNetns: string;
  hostIP: string;
  sandbox: SandboxConfig;
  netns: Netns;
  runner: ProcessRunner;
  prober: ProbeExecutor;
  ipam: IpamStore;
  records: RecordStore;
  client: Client;
  clock: Clock;
  log: Logger;
  backoff: BackoffConfig;
  /** PATH, HOME: what every container's environment starts with. */
  containerBaseEnv: Readonly<Record<string, string>>;
  /** [node binary, builtin/image.js]. */
  builtinCommand: readonly string[];
  nodeCPU: number;
  nodeMemoryBytes: number;
  services(): readonly Service[];
  event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
  /** The worker is finished (the pod is gone from the API and the node). */
  onDone(uid: string): void;
}

interface ContainerRt {
  spec: Container;
  init: boolean;
  restartCount: number;
  containerID?: string;
  state: ContainerStateView;
  /** lastState. */
  last?: TerminatedView;
  /** The latest exit of the current instance. */
  exit?: TerminatedView;
  /** When it exited, to the millisecond (the API's timestamps have seconds). */
  exitAtMs?: number;
  proc?: StartedProcess;
  starting: boolean;
  listening: boolean;
  startupOk: boolean;
  readyOk: boolean;
  probes: ProbeWorker[];
  stopping?: Promise<void>;
  /** After a creation error: not before this time. */
  retryAt?: number;
  /** The current instance's stdin (`stdin: true`), held for attach. */
  stdin?: ContainerStdin;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class PodWorker {
  private pod: Pod | undefined;
  private readonly conts = new Map<string, ContainerRt>();
  private running = false;
  private dirty = false;
  private closed = false;
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;
  private terminating: Promise<void> | undefined;
  private done = false;
  /** The last status written (base for lastTransitionTime and change detection). */
  private lastStatus: PodStatus | undefined;
  private lastStatusKey = '';
  private readonly backoff: CrashBackoff;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;

  constructor(private readonly d: PodWorkerDeps, readonly uid: string, pod: Pod, private record: PodRecord, adopted: boolean) {
    this.pod = pod;
    this.lastSpec = pod.spec;
    this.backoff = new CrashBackoff(d.backoff);
    if (adopted) this.adopt();
  }

  get namespace(): string { return this.record.namespace; }
  get name(): string { return this.record.name; }
  get podIP(): string | undefined { return this.record.podIP; }
  get netnsName(): string { return this.record.netns; }
  /** The sandbox stands and is not being torn down (port-forward may dial into it). */
  get sandboxReady(): boolean { return this.record.sandboxReady && !this.record.terminal; }
  get spec(): Pod['spec'] { return this.pod?.spec ?? this.lastSpec; }
  private lastSpec: Pod['spec'];

  /** A newer pod object, or undefined when it was removed from the API. */
  update(pod: Pod | undefined): void {
    if (pod) this.lastSpec = pod.spec;
    this.pod = pod;
    this.kick();
  }

  kick(): void {
    if (this.closed || this.done) return;
    this.dirty = true;
    if (this.running) return;
    this.running = true;
    this.idle = new Promise((r) => { this.idleResolve = r; });
    void this.loop();
  }

  get busy(): boolean { return this.running; }

  /** Resolves when no sync is running (tests, close). */
  whenIdle(): Promise<void> { return this.idle; }

  private async loop(): Promise<void> {
    try {
      while (this.dirty && !this.closed) {
        this.dirty = false;
        try {
          await this.syncOnce();
        } catch (e) {
          this.d.log.error('pod sync failed', { pod: `${this.record.namespace}/${this.record.name}`, error: errorText(e) });
          this.after(2000);
        }
      }
    } finally {
      this.running = false;
      this.idleResolve?.();
    }
  }

  /**
   * Wakes the worker in `ms` at the latest. An earlier wake-up already pending is kept (a
   * later request never postpones it): syncs are level-triggered, and every pass schedules
   * again what is still due then (a back-off, a config retry, a failed status write).
   */
  private after(ms: number): void {
    if (this.closed) return;
    const at = this.d.clock.now() + ms;
    if (this.timer !== undefined && this.timerAt !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) this.d.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.d.clock.setTimeout(() => { this.timer = undefined; this.timerAt = undefined; this.kick(); }, ms);
  }

  // -------------------------------------------------------------------------

  private async syncOnce(): Promise<void> {
    const pod = this.pod;
    if (this.done) return;
    if (!pod || pod.metadata?.deletionTimestamp) { await this.terminate(); return; }
    if (this.record.terminal) { await this.writeStatus(); return; }
    if (!this.record.sandboxReady) {
      try {
        await this.makeSandbox(pod);
      } catch (e) {
        this.d.log.warn('pod sandbox failed', { pod: `${this.record.namespace}/${this.record.name}`, error: errorText(e) });
        this.d.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${errorText(e)}`);
        this.after(2000);
        await this.writeStatus();
        return;
      }
    }
    const spec = pod.spec!;
    const now = this.d.clock.now();
    let initDone = true;
    for (const c of spec.initContainers ?? []) {
      const rt = this.conts.get(c.name);
      if (this.neverRan(rt)) { initDone = false; await this.startContainer(pod, c, true, false); break; }
      if (!rt || rt.starting || rt.proc || rt.stopping || !rt.exit) { initDone = false; break; }
      if (rt.exit.exitCode === 0 && rt.state.state === 'terminated') continue;
      initDone = false;
      // A failed init container: the pod fails with Never, otherwise it is retried.
      if (spec.restartPolicy === 'Never') { await this.finish(); return; }
      this.restartOrWait(pod, rt, now);
      break;
    }
    if (initDone) {
      for (const c of spec.containers) {
        const rt = this.conts.get(c.name);
        if (this.neverRan(rt)) { await this.startContainer(pod, c, false, false); continue; }
        if (!rt) continue;
        if (rt.starting || rt.proc || rt.stopping) continue;
        if (this.shouldRestart(spec.restartPolicy, rt)) this.restartOrWait(pod, rt, now);
      }
      const allDone = spec.containers.every((c) => {
        const rt = this.conts.get(c.name);
        return rt && !rt.starting && !rt.proc && !rt.stopping && rt.exit && !this.shouldRestart(spec.restartPolicy, rt);
      });
      if (allDone) { await this.finish(); return; }
    }
    await this.writeStatus();
  }

  /** Not created yet, or its creation failed before anything ran (CreateContainerConfigError): start it. */
  private neverRan(rt: ContainerRt | undefined): boolean {
    if (!rt) return true;
    if (rt.starting || rt.proc || rt.stopping || rt.exit || rt.state.state !== 'waiting' || rt.state.reason === 'CrashLoopBackOff') return false;
    const wait = (rt.retryAt ?? 0) - this.d.clock.now();
    // Not yet: wake up when it is due. (The retry's own timer can fire a few ms before
    // retryAt by the wall clock — libuv times it from the loop's cached start — and a pass
    // that found nothing due must not leave the container waiting for ever.)
    if (wait > 0) { this.after(wait); return false; }
    return true;
  }

  private shouldRestart(policy: string | undefined, rt: ContainerRt): boolean {
    if (!rt.exit) return false;
    if (rt.init) return rt.exit.exitCode !== 0 && policy !== 'Never';
    if (policy === 'Never') return false;
    if (policy === 'OnFailure') return rt.exit.exitCode !== 0;
    return true;
  }

  /** kubelet doBackOff: restart now, or wait in CrashLoopBackOff until the backoff since the exit ends. */
  private restartOrWait(pod: Pod, rt: ContainerRt, now: number): void {
    const exit = rt.exit!;
    const key = rt.spec.name;
    const finished = rt.exitAtMs ?? Date.parse(exit.finishedAt);
    if (this.backoff.inBackoffSince(key, finished, now)) {
      const d = this.backoff.get(key);
      const md = pod.metadata!;
      const msg = `back-off ${goDuration(d)} restarting failed container=${rt.spec.name} pod=${md.name}_${md.namespace}(${md.uid})`;
      if (rt.state.state !== 'waiting' || rt.state.reason !== 'CrashLoopBackOff') {
        this.d.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${rt.spec.name} in pod ${md.name}_${md.namespace}(${md.uid})`);
      }
      rt.state = { state: 'waiting', reason: 'CrashLoopBackOff', message: msg };
      rt.last = exit;
      this.after(Math.max(50, finished + d - now));
      return;
    }
    this.backoff.next(key, finished);
    void this.startContainer(pod, rt.spec, rt.init, true).then(() => this.kick());
  }

  private async makeSandbox(pod: Pod): Promise<void> {
    const r = this.record;
    if (!r.hostNetwork && !r.podIP) {
      r.podIP = this.d.ipam.allocate({ podUid: r.uid, namespace: r.namespace, name: r.name });
    }
    if (r.hostNetwork) r.podIP = this.d.hostIP;
    // Record first: a crash during creation leaves something to clean up.
    this.d.records.save(r);
    await createSandbox(this.d.netns, this.d.sandbox, pod, r);
    r.sandboxReady = true;
    this.d.records.save(r);
  }

  private persist(): void {
    if (this.closed && !this.terminating) return;
    const containers: PodRecord['containers'] = {};
    for (const [name, rt] of this.conts) {
      containers[name] = {
        name, init: rt.init, restartCount: rt.restartCount, containerID: rt.containerID,
        pid: rt.proc?.pid, startTicks: rt.proc?.startTicks, state: rt.state, last: rt.last,
        listening: rt.listening, started: this.started(rt), ready: this.ready(rt),
      };
    }
    this.record.containers = containers;
    if (!this.done) this.d.records.save(this.record);
  }

  private started(rt: ContainerRt): boolean {
    return rt.state.state === 'running' && rt.listening && (!rt.spec.startupProbe || rt.startupOk);
  }

  private ready(rt: ContainerRt): boolean {
    return this.started(rt) && (!rt.spec.readinessProbe || rt.readyOk);
  }

  private hostname(pod: Pod): string {
    if (pod.spec?.hostNetwork) return this.d.nodeName;
    return pod.spec?.hostname ?? pod.metadata?.name ?? '';
  }

  private async envFor(pod: Pod, c: Container): Promise<{ env: Record<string, string>; error?: string }> {
    const configMaps = new Map<string, ConfigMap>();
    const names = new Set<string>();
    for (const f of c.envFrom ?? []) if (f.configMapRef?.name) names.add(f.configMapRef.name);
    for (const e of c.env ?? []) if (e.valueFrom?.configMapKeyRef?.name) names.add(e.valueFrom.configMapKeyRef.name);
    for (const n of names) {
      try {
        configMaps.set(n, await this.d.client.get<ConfigMap & { [k: string]: unknown }>(findByKind('v1', 'ConfigMap')!, pod.metadata?.namespace, n));
      } catch (e) {
        if (!isStatusError(e) || e.code !== 404) throw e;
      }
    }
    return containerEnv({
      pod, container: c, podIP: this.record.podIP ?? '', hostIP: this.d.hostIP, services: this.d.services(), configMaps,
      base: { ...this.d.containerBaseEnv, HOSTNAME: this.hostname(pod) }, nodeCPU: this.d.nodeCPU, nodeMemoryBytes: this.d.nodeMemoryBytes,
    });
  }

  private async startContainer(pod: Pod, c: Container, init: boolean, restart: boolean): Promise<void> {
    let rt = this.conts.get(c.name);
    if (!rt) {
      rt = { spec: c, init, restartCount: 0, state: { state: 'waiting', reason: init ? 'PodInitializing' : 'ContainerCreating' }, starting: false, listening: false, startupOk: false, readyOk: false, probes: [] };
      this.conts.set(c.name, rt);
    }
    if (rt.starting || rt.proc) return;
    if (restart) {
      rt.last = rt.exit;
      rt.restartCount++;
    }
    rt.exit = undefined;
    rt.spec = c;
    rt.starting = true;
    rt.stdin = undefined;
    rt.listening = false; rt.startupOk = false; rt.readyOk = false;
    rt.state = { state: 'waiting', reason: 'ContainerCreating' };
    const fail = (exit: Omit<TerminatedView, 'state' | 'finishedAt'>, waitingReason?: string): void => {
      const t = this.d.clock.now();
      rt!.starting = false;
      if (waitingReason) {
        // Nothing ran: stay waiting (CreateContainerConfigError) and retry in a while.
        rt!.state = { state: 'waiting', reason: waitingReason, message: exit.message };
        if (restart) rt!.restartCount--;
        rt!.retryAt = t + 2000;
        this.after(2000);
        this.persist();
        void this.writeStatus();
        return;
      } else {
        const term: TerminatedView = { state: 'terminated', ...exit, startedAt: iso(t), finishedAt: iso(t) };
        rt!.exit = term;
        rt!.exitAtMs = t;
        rt!.state = term;
      }
      this.persist();
      this.kick();
    };
    const envR: { env: Record<string, string>; error?: string } = await this.envFor(pod, c).catch((e: unknown) => ({ env: {}, error: errorText(e) }));
    if (envR.error) {
      this.d.event(pod, 'Warning', 'Failed', `Error: ${envR.error}`);
      return fail({ exitCode: 0, reason: 'CreateContainerConfigError', message: envR.error }, 'CreateContainerConfigError');
    }
    const env = envR.env;
    const lookup = (n: string): string | undefined => env[n];
    const command = (c.command ?? []).map((s) => expandVars(s, lookup));
    const args = (c.args ?? []).map((s) => expandVars(s, lookup));
    const resolved = resolveContainerCommand(c, command, args);
    let argv: string[];
    let procEnv = env;
    let readyFd = false;
    if (resolved.kind === 'builtin') {
      argv = [...this.d.builtinCommand, '--ready-fd=3', resolved.name, ...resolved.args];
      readyFd = true;
    } else {
      argv = resolved.argv;
      const err = argv.length === 0 ? 'no command specified' : this.d.runner.checkExecutable(argv[0]!, env['PATH'] ?? '');
      if (err) {
        this.d.event(pod, 'Warning', 'Failed', `Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: ${err}: unknown`);
        return fail({ exitCode: 128, reason: 'StartError', message: `failed to create containerd task: failed to create shim task: OCI runtime create failed: ${err}: unknown` });
      }
      if (c.tty) {
        // The container's own terminal, as exec -t makes one (node/exec.ts).
        const term = onTerminal(argv, env);
        if (!term) return fail({ exitCode: 128, reason: 'StartError', message: NO_SCRIPT });
        ({ argv, env: procEnv } = term);
      }
    }
    const containerID = containerIDFor(this.uid, c.name, rt.restartCount);
    const logFile = this.d.records.logPath(this.uid, c.name, rt.restartCount);
    let proc: StartedProcess;
    try {
      proc = await this.d.runner.start({
        netns: this.record.netns, argv, env: procEnv, cwd: c.workingDir || undefined, hostname: this.hostname(pod), logFile, readyFd,
        stdin: !!c.stdin,
      });
    } catch (e) {
      return fail({ exitCode: 128, reason: 'StartError', message: errorText(e) });
    }
    this.d.records.pruneLogs(this.uid, c.name, rt.restartCount);
    const startedAt = this.d.clock.now();
    rt.starting = false;
    rt.proc = proc;
    rt.containerID = containerID;
    if (c.stdin) rt.stdin = new ContainerStdin(proc.stdin, !!c.stdinOnce, !!c.tty);
    rt.state = { state: 'running', startedAt: iso(startedAt) };
    this.persist();
    this.d.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    void proc.exited.then((x) => this.onExit(rt!, proc, x));
    if (this.terminating || this.closed) {
      // Deleted while it was starting.
      this.d.runner.signalGroup(proc.pid, 'SIGKILL');
      return;
    }
    void proc.listening.then(async () => {
      if (rt!.proc !== proc || this.closed) return;
      if (c.lifecycle?.postStart) {
        const r = await this.runHandler(c.lifecycle.postStart, c, env, (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
        if (!r.ok && rt!.proc === proc) {
          this.d.event(pod, 'Warning', 'FailedPostStartHook', r.output);
          void this.stopContainer(rt!, pod.spec?.terminationGracePeriodSeconds ?? 30, `FailedPostStartHook`);
          return;
        }
      }
      rt!.listening = true;
      this.startProbes(pod, rt!, proc, env, startedAt);
      this.persist();
      this.kick();
    });
  }

  private startProbes(pod: Pod, rt: ContainerRt, proc: StartedProcess, env: Record<string, string>, startedAt: number, seededReady?: boolean): void {
    for (const w of rt.probes) w.close();
    rt.probes = [];
    const c = rt.spec;
    const mk = (type: ProbeType, probe: NonNullable<Container['livenessProbe']>): void => {
      const w = new ProbeWorker({
        type, probe, container: c, podIP: this.record.podIP ?? '', podNetns: this.record.netns, env, startedAt,
        executor: this.d.prober, clock: this.d.clock,
        gate: type === 'startup' ? undefined : () => !c.startupProbe || rt.startupOk,
        onResult: (result, output) => this.onProbe(rt, proc, type, result, output),
      });
      rt.probes.push(w);
    };
    if (c.startupProbe) mk('startup', c.startupProbe);
    if (c.readinessProbe) {
      mk('readiness', c.readinessProbe);
      if (seededReady) rt.readyOk = true;
    }
    if (c.livenessProbe) mk('liveness', c.livenessProbe);
    void pod;
  }

  private onProbe(rt: ContainerRt, proc: StartedProcess, type: ProbeType, result: ProbeResult, output: string): void {
    if (rt.proc !== proc || this.closed) return;
    const pod = this.pod;
    if (type === 'readiness') rt.readyOk = result === 'success';
    if (type === 'startup') rt.startupOk = result === 'success';
    if (result === 'failure' && pod) {
      const probeName = type === 'liveness' ? 'Liveness' : type === 'readiness' ? 'Readiness' : 'Startup';
      this.d.event(pod, 'Warning', 'Unhealthy', `${probeName} probe failed: ${output}`.trim());
      if (type === 'liveness' || type === 'startup') {
        const probe = type === 'liveness' ? rt.spec.livenessProbe! : rt.spec.startupProbe!;
        const grace = probe.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        this.d.event(pod, 'Normal', 'Killing', `Container ${rt.spec.name} failed ${type} probe, will be restarted`);
        void this.stopContainer(rt, grace, `Container ${rt.spec.name} failed ${type} probe, will be restarted`);
      }
    }
    this.persist();
    this.kick();
  }

  private onExit(rt: ContainerRt, proc: StartedProcess, x: ExitStatus): void {
    // A closed worker's processes belong to whichever agent adopts them next.
    if (rt.proc !== proc || this.closed) return;
    rt.proc = undefined;
    rt.stdin?.close();
    for (const w of rt.probes) w.close();
    rt.probes = [];
    const now = this.d.clock.now();
    const startedAt = rt.state.state === 'running' ? rt.state.startedAt : undefined;
    const term: TerminatedView = {
      state: 'terminated', exitCode: x.exitCode,
      reason: x.unknown ? 'ContainerStatusUnknown' : x.exitCode === 0 ? 'Completed' : 'Error',
      startedAt, finishedAt: iso(now),
    };
    if (x.unknown) term.message = 'The container could not be located when the pod was terminated';
    rt.exit = term;
    rt.exitAtMs = now;
    rt.state = term;
    rt.listening = false; rt.readyOk = false; rt.startupOk = false;
    this.persist();
    this.kick();
  }

  /** preStop, SIGTERM, the grace period, SIGKILL (kubelet killContainer). */
  private stopContainer(rt: ContainerRt, graceSeconds: number, reason: string, killNow = false): Promise<void> {
    if (rt.stopping && !killNow) return rt.stopping;
    const proc = rt.proc;
    if (!proc) return Promise.resolve();
    this.d.log.debug('stopping container', { pod: `${this.record.namespace}/${this.record.name}`, container: rt.spec.name, reason });
    if (killNow) {
      this.d.runner.signalGroup(proc.pid, 'SIGKILL');
      return this.within(proc.exited, 5000).then(() => undefined);
    }
    rt.stopping = (async () => {
      const t0 = this.d.clock.now();
      let graceMs = graceSeconds * 1000;
      const pre = rt.spec.lifecycle?.preStop;
      if (pre && graceMs > 0) {
        const env = await this.envFor(this.pod ?? ({ metadata: { name: this.record.name, namespace: this.record.namespace, uid: this.uid }, spec: this.spec } as Pod), rt.spec)
          .catch(() => ({ env: { ...this.d.containerBaseEnv } }));
        const r = await this.runHandler(pre, rt.spec, env.env, graceMs);
        if (!r.ok && this.pod) this.d.event(this.pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${r.output}`);
        graceMs -= this.d.clock.now() - t0;
      }
      graceMs = Math.max(graceMs, MIN_GRACE_MS);
      this.d.runner.signalGroup(proc.pid, 'SIGTERM');
      const gone = await this.within(proc.exited, graceMs);
      if (!gone) {
        this.d.runner.signalGroup(proc.pid, 'SIGKILL');
        await this.within(proc.exited, 5000);
      }
    })().finally(() => { rt.stopping = undefined; });
    return rt.stopping;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.d.clock.setTimeout(r, ms));
  }

  /** Did `p` settle within `ms`? The timer is cleared either way (a pending one would hold the process open). */
  private within(p: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = this.d.clock.setTimeout(() => resolve(false), ms);
      void p.then(() => { this.d.clock.clearTimeout(t); resolve(true); });
    });
  }

  private async runHandler(h: LifecycleHandler, c: Container, env: Record<string, string>, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
    const action = probeAction(h as Parameters<typeof probeAction>[0], c, this.record.podIP ?? '');
    try {
      return await this.d.prober.run(action, Math.max(1000, timeoutMs), { podNetns: this.record.netns, env });
    } catch (e) {
      return { ok: false, output: errorText(e) };
    }
  }

  /** Every container stopped for good: tear the sandbox down, keep the status (Succeeded/Failed). */
  private async finish(): Promise<void> {
    await this.stopAll(0);
    await this.teardown();
    this.record.terminal = true;
    this.persist();
    await this.writeStatus();
  }

  private async stopAll(graceSeconds: number, killNow = false): Promise<void> {
    await Promise.all([...this.conts.values()].map((rt) => this.stopContainer(rt, graceSeconds, 'Stopping container', killNow)));
    // A start in flight finishes and is killed by startContainer; wait for it.
    for (let i = 0; i < 250 && [...this.conts.values()].some((rt) => rt.starting || rt.proc); i++) {
      await Promise.all([...this.conts.values()].map((rt) => (rt.proc ? this.stopContainer(rt, 0, 'Stopping container', true) : undefined)));
      await this.sleep(20);
    }
  }

  private async teardown(): Promise<void> {
    if (this.record.sandboxReady || this.record.podIP) {
      await destroySandbox(this.d.netns, this.d.sandbox, this.record);
      this.record.sandboxReady = false;
      if (!this.record.hostNetwork) this.d.ipam.release(this.uid);
    }
  }

  private terminate(): Promise<void> {
    if (this.terminating) return this.terminating;
    this.terminating = (async () => {
      const pod = this.pod;
      const grace = pod ? (pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) : 0;
      if (pod) {
        for (const rt of this.conts.values()) if (rt.proc) this.d.event(pod, 'Normal', 'Killing', `Stopping container ${rt.spec.name}`);
      }
      await this.stopAll(grace);
      await this.teardown();
      this.record.terminal = true;
      this.persist();
      const cur = this.pod;
      if (cur) {
        await this.writeStatus(true).catch(() => undefined);
        try {
          await this.d.client.delete(podsResource, this.record.namespace, this.record.name, { gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
        } catch (e) {
          // Gone already, or a new pod took the name (uid precondition failed): either way ours is gone.
          if (!isStatusError(e) || (e.code !== 404 && e.code !== 409)) throw e;
        }
      }
      this.done = true;
      this.d.records.remove(this.uid);
      this.d.onDone(this.uid);
    })();
    this.terminating.catch(() => { this.terminating = undefined; this.after(2000); });
    return this.terminating;
  }

  /** The runtime as status.ts sees it. */
  view(forceTerminal = false): Parameters<typeof computePodStatus>[1] {
    // Init containers (kubelet prober manager): started while running, ready once exited 0.
    const toView = (rt: ContainerRt): ContainerView => ({
      name: rt.spec.name, containerID: rt.containerID, restartCount: rt.restartCount,
      current: rt.state, last: rt.last,
      started: rt.init ? rt.state.state === 'running' : this.started(rt),
      ready: rt.init ? rt.state.state === 'terminated' && rt.state.exitCode === 0 : this.ready(rt),
    });
    const all = [...this.conts.values()];
    return {
      sandboxReady: this.record.sandboxReady, podIP: this.record.podIP, hostIP: this.d.hostIP,
      initContainers: all.filter((r) => r.init).map(toView), containers: all.filter((r) => !r.init).map(toView),
      terminal: forceTerminal || this.record.terminal || !!this.pod?.metadata?.deletionTimestamp,
    };
  }

  /** Container state for logs. */
  containerState(name: string): { restartCount: number; state: ContainerStateView['state']; waitingReason?: string; hasPrevious: boolean } | undefined {
    const rt = this.conts.get(name);
    if (!rt) return undefined;
    return {
      restartCount: rt.restartCount, state: rt.state.state,
      waitingReason: rt.state.state === 'waiting' ? rt.state.reason : undefined, hasPrevious: !!rt.last,
    };
  }

  /** Where `kubectl exec` runs a command in a container: undefined unless it runs (kubelet's findContainer). */
  async execTarget(name: string): Promise<ExecTarget | undefined> {
    const rt = this.conts.get(name);
    if (!rt || rt.state.state !== 'running' || !rt.proc || !this.record.sandboxReady) return undefined;
    const pod = this.pod ?? ({ metadata: { name: this.record.name, namespace: this.record.namespace, uid: this.uid }, spec: this.spec } as Pod);
    const env = await this.envFor(pod, rt.spec).catch(() => ({ env: { ...this.d.containerBaseEnv } }));
    return { netns: this.record.netns, env: env.env, cwd: rt.spec.workingDir || undefined, hostname: this.hostname(pod), containerID: rt.containerID };
  }

  /**
   * What `kubectl attach` connects to: the running instance, or a stdin container's
   * instance that ended before its first attach (node/attach.ts); undefined otherwise.
   */
  attachTarget(name: string): AttachTarget | undefined {
    const rt = this.conts.get(name);
    if (!rt || !rt.containerID || rt.starting) return undefined;
    const proc = rt.proc;
    const common = { logPath: this.d.records.logPath(this.uid, name, rt.restartCount), tty: !!rt.spec.tty, stdin: rt.stdin };
    if (proc && rt.state.state === 'running') return { ...common, pid: proc.pid, running: true, exited: proc.exited };
    if (!proc && rt.stdin?.unclaimed) return { ...common, running: false, exited: Promise.resolve() };
    return undefined;
  }

  private async writeStatus(final = false): Promise<void> {
    const pod = this.pod;
    if (!pod || this.closed) return;
    const base: Pod = { ...pod, status: this.lastStatus ?? pod.status };
    const status = computePodStatus(base, this.view(final), new Date(this.d.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const key = JSON.stringify(status);
    if (key === this.lastStatusKey) return;
    try {
      const updated = await this.d.client.patch<Pod & { [k: string]: unknown }>(podsResource, this.record.namespace, this.record.name, 'merge',
        { metadata: { uid: this.uid }, status }, { subresource: 'status' });
      this.lastStatus = status;
      this.lastStatusKey = key;
      if (this.pod && updated.metadata?.uid === this.uid && !this.pod.metadata?.deletionTimestamp) {
        // Keep our newest view of the object; a stale informer event must not roll it back.
        this.pod = { ...this.pod, status: updated.status };
      }
    } catch (e) {
      if (isStatusError(e) && e.code === 404) { this.update(undefined); return; }
      this.d.log.warn('pod status update failed', { pod: `${this.record.namespace}/${this.record.name}`, error: errorText(e) });
      this.after(1000);
    }
  }

  /** Rebuilds container state from the record of an earlier agent. */
  private adopt(): void {
    const r = this.record;
    const prevStatuses = [...(this.pod?.status?.containerStatuses ?? []), ...(this.pod?.status?.initContainerStatuses ?? [])];
    this.lastStatus = this.pod?.status;
    const spec = this.pod?.spec;
    for (const cr of Object.values(r.containers)) {
      const c = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find((x) => x.name === cr.name);
      if (!c) continue;
      const rt: ContainerRt = {
        spec: c, init: cr.init, restartCount: cr.restartCount, containerID: cr.containerID, state: cr.state, last: cr.last,
        exit: cr.state.state === 'terminated' ? cr.state : cr.state.state === 'waiting' && cr.state.reason === 'CrashLoopBackOff' ? cr.last : undefined,
        starting: false, listening: cr.listening, startupOk: cr.started, readyOk: cr.ready, probes: [],
      };
      this.conts.set(cr.name, rt);
      if (cr.state.state === 'running' && cr.pid && cr.startTicks !== undefined && r.sandboxReady) {
        const proc = this.d.runner.adopt(cr.pid, cr.startTicks);
        if (proc) {
          rt.proc = proc;
          void proc.exited.then((x) => this.onExit(rt, proc, x));
          const wasReady = prevStatuses.find((s) => s.name === cr.name)?.ready ?? cr.ready;
          const startedAt = Date.parse(cr.state.startedAt);
          void this.envFor(this.pod!, c).then((e) => {
            if (rt.proc === proc) this.startProbes(this.pod!, rt, proc, e.env, startedAt, wasReady);
          }).catch(() => undefined);
          continue;
        }
        // It ended while no agent was watching.
        const t = this.d.clock.now();
        const term: TerminatedView = {
          state: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown',
          message: 'The container could not be located when the pod was terminated', startedAt: cr.state.startedAt, finishedAt: iso(t),
        };
        rt.exit = term;
        rt.state = term;
        rt.listening = false;
      }
    }
  }

  /** After adoption: is the sandbox still there? If not, everything restarts in a new one. */
  async checkSandbox(): Promise<void> {
    const r = this.record;
    if (!r.sandboxReady || r.hostNetwork) return;
    if (await this.d.netns.exists(r.netns)) return;
    r.sandboxReady = false;
    for (const rt of this.conts.values()) {
      if (rt.proc) this.d.runner.signalGroup(rt.proc.pid, 'SIGKILL');
    }
  }

  /** Stops timers and probes; containers keep running (an agent restart adopts them). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.d.clock.clearTimeout(this.timer);
    for (const rt of this.conts.values()) for (const w of rt.probes) w.close();
  }

  /** Kills every container at once and removes the sandbox (cluster shutdown). */
  async destroy(): Promise<void> {
    this.terminating = this.terminating ?? (async () => {
      await this.stopAll(0, true);
      await this.teardown();
      this.d.records.remove(this.uid);
    })();
    await this.terminating.catch(() => undefined);
    this.close();
  }
}
