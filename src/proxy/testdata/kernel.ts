// Loading rendered rules into a real kernel, inside a private network namespace
// (`unshare --net`), so that nothing touches the host's own rules. Tests skip with a
// reason when this is not possible (not root, a binary missing, unshare refused).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

let cached: string | undefined | null = null;

/** undefined when kernel tests can run, else the reason to skip them. */
export function kernelSkipReason(): string | undefined {
  if (cached !== null) return cached;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) cached = 'needs root to create a private network namespace';
  else {
    const missing = ['unshare', 'nft', 'iptables-restore', 'ip6tables-restore', 'iptables-save'].filter((b) => !hasBinary(b));
    if (missing.length) cached = `missing ${missing.join(', ')}`;
    else if (spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' }).status !== 0) cached = 'unshare --net is not permitted here';
    else cached = undefined;
  }
  return cached;
}

export interface NetnsRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Writes `files` to a temporary directory and runs `script` (sh) in a fresh network
 * namespace with that directory as the working directory.
 */
export function inPrivateNetns(files: Record<string, string>, script: string): NetnsRun {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-proxy-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const r = spawnSync('unshare', ['--net', 'sh', '-ec', script], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
