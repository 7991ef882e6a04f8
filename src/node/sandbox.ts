// A private sandbox for scenario tests and benchmarks that build real
// namespaces: a new network namespace (so the host's is never touched), a new
// mount namespace with private tmpfs over /run/netns and /etc/netns (so `ip
// netns` names and pod resolv.conf files are invisible outside), and a new
// PID namespace (so when the sandbox's first process ends, the kernel kills
// every process left in it: nothing can leak, even after a crash).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findExecutable } from './runtime.js';

export const SANDBOX_ENV = 'SVCNET_IN_SANDBOX';

const SETUP = [
  'set -e',
  'mkdir -p /run/netns && mount -t tmpfs svcnet-netns /run/netns',
  // /etc/netns may not exist on the host; creating the empty directory is the only trace a sandbox leaves.
  '[ -d /etc/netns ] || mkdir -p /etc/netns',
  'mount -t tmpfs svcnet-etc-netns /etc/netns',
  'ip link set lo up',
  '"$@"',
].join('\n');

/** Why real-kernel tests cannot run here, or undefined when they can. */
export function sandboxUnsupported(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN)';
  const path = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const tool of ['ip', 'unshare', 'mount', 'sh']) {
    if (!findExecutable(tool, path)) return `\`${tool}\` is not installed`;
  }
  if (!existsSync('/proc/self/ns/net')) return 'no network namespace support';
  return undefined;
}

export interface SandboxRun {
  code: number;
  signal: string | null;
  /** stdout and stderr, interleaved, when `capture` was asked for. */
  output: string;
}

/**
 * Runs argv inside a fresh sandbox, with `env` plus SVCNET_IN_SANDBOX=1, its
 * output passed through. Resolves when it ends (everything in it is dead then).
 */
export function runInSandbox(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; capture?: boolean } = {}): Promise<SandboxRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child',
      'sh', '-c', SETUP, 'svcnet-sandbox', ...argv], {
      stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', cwd: opts.cwd, env: { ...(opts.env ?? process.env), [SANDBOX_ENV]: '1' },
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => { if (timer) clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { if (timer) clearTimeout(timer); resolve({ code: code ?? 1, signal, output }); });
  });
}
