// Running the kernel's tools (nft, iptables-restore, conntrack) as a narrow interface,
// so the appliers can be tested with a recording fake and run inside a node's network
// namespace by prefixing `ip netns exec NAME`. A command's argv is never given to a
// shell: rules travel on stdin, names as separate arguments.
import { spawn } from 'node:child_process';
import { ProxyError } from './errors.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string;
  /** Killed (SIGKILL) after this long. Default 30 s. */
  timeoutMs?: number;
}

export interface CommandRunner {
  /**
   * Runs argv and reports how it exited. A non-zero exit is a result, not an error;
   * rejects only when the command cannot run (COMMAND_NOT_FOUND) or times out.
   */
  run(argv: readonly string[], opts?: CommandRunOptions): Promise<CommandResult>;
}

/** Spawns real processes. */
export const execRunner: CommandRunner = Object.freeze({
  run(argv: readonly string[], opts: CommandRunOptions = {}): Promise<CommandResult> {
    return new Promise<CommandResult>((resolve, reject) => {
      const [cmd, ...args] = argv;
      if (!cmd) {
        reject(new ProxyError('COMMAND_FAILED', 'empty command'));
        return;
      }
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? 30_000);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      // A command that exits before reading its stdin makes the write fail with EPIPE; the exit code tells the story.
      child.stdin.on('error', () => undefined);
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(e.code === 'ENOENT'
          ? new ProxyError('COMMAND_NOT_FOUND', `${cmd}: not found`, { cause: e })
          : new ProxyError('COMMAND_FAILED', `${cmd}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new ProxyError('COMMAND_TIMEOUT', `${argv.join(' ')}: killed after ${opts.timeoutMs ?? 30_000} ms`));
          return;
        }
        resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      child.stdin.end(opts.stdin ?? '');
    });
  },
});

/** The same runner, with every command run inside network namespace `netns` (none: unchanged). */
export function inNetns(runner: CommandRunner, netns: string | undefined): CommandRunner {
  if (netns === undefined) return runner;
  return { run: (argv, opts) => runner.run(['ip', 'netns', 'exec', netns, ...argv], opts) };
}

/**
 * Like inNetns, but enters only the network namespace (`nsenter --net=/run/netns/NAME`):
 * `ip netns exec` also creates a mount namespace and remounts /sys for every command,
 * which nft and iptables do not need, and which costs about half of a small sync's apply.
 */
export function inNetnsNetOnly(runner: CommandRunner, netns: string | undefined): CommandRunner {
  if (netns === undefined) return runner;
  const path = netnsPath(netns);
  return { run: (argv, opts) => runner.run(['nsenter', `--net=${path}`, ...argv], opts) };
}

/** A network namespace name (`ip netns`) or path → its path. */
export function netnsPath(netns: string): string {
  return netns.includes('/') ? netns : `/run/netns/${netns}`;
}

/** Runs argv and rejects with COMMAND_FAILED (stderr in the message) on a non-zero exit. */
export async function runChecked(runner: CommandRunner, argv: readonly string[], opts?: CommandRunOptions): Promise<CommandResult> {
  const r = await runner.run(argv, opts);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(0, 8).join('; ');
    throw new ProxyError('COMMAND_FAILED', `${argv.join(' ')} exited ${r.code}: ${detail}`);
  }
  return r;
}

export interface RecordedCommand {
  argv: string[];
  stdin?: string;
}

/**
 * A runner that records every call and answers from `respond` (default: exit 0, no
 * output). For tests of appliers and conntrack cleanup without a kernel.
 */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCommand[] = [];
  constructor(private readonly respond: (argv: readonly string[], stdin?: string) => CommandResult | Promise<CommandResult> =
    () => ({ code: 0, stdout: '', stderr: '' })) {}

  async run(argv: readonly string[], opts: CommandRunOptions = {}): Promise<CommandResult> {
    this.calls.push({ argv: [...argv], ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });
    return this.respond(argv, opts.stdin);
  }
}
