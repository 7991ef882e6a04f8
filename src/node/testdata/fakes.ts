// Fakes for the agent's process and probe seams: processes that run until a
// test ends them, and probes whose answers a test sets.
import type { ExecOptions, ExecResult } from '../netns.js';
import type { ProbeAction, ProbeExecutor, ProbeOutcome } from '../probes.js';
import type { ExitStatus, ProcessRunner, ProcessSpec, StartedProcess } from '../runtime.js';

export interface FakeProcess {
  pid: number;
  spec: ProcessSpec;
  signals: string[];
  exit(status: ExitStatus): void;
  alive: boolean;
}

/** Processes as records: they "run" until exit() or a signal the test lets through. */
export class FakeProcessRunner implements ProcessRunner {
  readonly procs: FakeProcess[] = [];
  readonly execs: { netns: string; argv: string[] }[] = [];
  private nextPid = 1000;
  /** What SIGTERM does: by default the process exits 0 at once. */
  onSignal: (p: FakeProcess, signal: 'SIGTERM' | 'SIGKILL') => void = (p, s) => p.exit(s === 'SIGKILL' ? { exitCode: 137, signal: 9 } : { exitCode: 0 });
  missing = new Set<string>();

  async start(spec: ProcessSpec): Promise<StartedProcess> {
    const pid = this.nextPid++;
    let resolveExit!: (s: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((r) => { resolveExit = r; });
    const p: FakeProcess = {
      pid, spec, signals: [], alive: true,
      exit: (s) => { if (!p.alive) return; p.alive = false; resolveExit(s); },
    };
    this.procs.push(p);
    return { pid, startTicks: pid * 10, exited, listening: Promise.resolve(true) };
  }

  adopt(pid: number, startTicks: number): StartedProcess | undefined {
    const p = this.procs.find((x) => x.pid === pid && x.alive && startTicks === pid * 10);
    if (!p) return undefined;
    const exited = new Promise<ExitStatus>((resolve) => {
      const orig = p.exit;
      p.exit = (s) => { orig(s); resolve({ exitCode: 137, unknown: true }); };
    });
    return { pid, startTicks, exited, listening: Promise.resolve(true) };
  }

  signalGroup(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
    const p = this.procs.find((x) => x.pid === pid);
    if (!p || !p.alive) return;
    p.signals.push(signal);
    this.onSignal(p, signal);
  }

  async exec(netns: string, argv: readonly string[], _opts?: ExecOptions): Promise<ExecResult> {
    this.execs.push({ netns, argv: [...argv] });
    return { code: 0, stdout: '', stderr: '', timedOut: false };
  }

  checkExecutable(argv0: string): string | undefined {
    return this.missing.has(argv0) ? `exec: "${argv0}": executable file not found in $PATH` : undefined;
  }

  running(): FakeProcess[] { return this.procs.filter((p) => p.alive); }
}

/** Probes answered by a function of the action; every call is recorded. */
export class FakeProber implements ProbeExecutor {
  readonly calls: { action: ProbeAction; netns: string; at: number }[] = [];
  answer: (a: ProbeAction, netns: string) => ProbeOutcome | Promise<ProbeOutcome> = () => ({ ok: true, output: '' });

  async run(action: ProbeAction, _timeoutMs: number, target: { podNetns: string }): Promise<ProbeOutcome> {
    this.calls.push({ action, netns: target.podNetns, at: Date.now() });
    return this.answer(action, target.podNetns);
  }
}
