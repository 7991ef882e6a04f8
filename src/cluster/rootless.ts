// Rootless `svcnet up`: without root, the whole cluster runs inside a user
// namespace in which svcnet is root (`unshare --user --map-root-user`), with
// its own network, mount and PID namespaces — the way rootless Podman, kind
// and k3s do it. Nodes are still network namespaces and the proxy still
// programs nftables or iptables: the kernel allows all of that to the owner
// of a user namespace, inside the namespaces it owns, and nothing of it can
// touch the host's network.
//
// Only the API server must be reachable from the host (kubectl runs there):
// this process binds the listening socket in the host's network namespace and
// hands it to the cluster as fd 3, where a relay accepts on it and connects to
// the API server in the cluster's namespace. `svcnet exec|rules|trace` enter
// the cluster's namespaces with nsenter (allowed: the user owns them), and
// `svcnet down` ends the cluster's PID namespace, which takes every process
// and namespace in it along.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { NODE_FLAGS } from './node-flags.js';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';

/** Set in the cluster's environment: we are the rootless cluster inside its user namespace. */
export const ROOTLESS_ENV = 'SVCNET_ROOTLESS';
/** The fd (in the cluster) of the API socket bound in the host's namespace. */
export const LISTEN_FD_ENV = 'SVCNET_LISTEN_FD';
/** What `up` leaves in the data dir while a rootless cluster runs. */
export const USERNS_FILE = 'userns.json';

// Inside the new namespaces, before svcnet starts: private /run/netns and
// /etc/netns (`ip netns` hard-codes both), loopback up. A directory we may not
// create (it belongs to the real root) is made by laying a tmpfs over its
// parent and linking the parent's entries back from a bind mount of it.
const SETUP = String.raw`set -e
private_dir() {
  if [ ! -d "$1/$2" ]; then
    orig=$(mktemp -d "\${TMPDIR:-/tmp}/svcnet-orig.XXXXXX")
    mount --rbind "$1" "$orig"
    mount -t tmpfs svcnet-"$2" "$1"
    for e in "$orig"/* "$orig"/.[!.]*; do [ -e "$e" ] || [ -L "$e" ] || continue; ln -s "$e" "$1/\${e##*/}"; done
    mkdir "$1/$2"
  fi
  mount -t tmpfs svcnet-"$2" "$1/$2"
}
private_dir /run netns
private_dir /etc netns
ip link set lo up
exec "$@"`;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Why a rootless cluster cannot start here, or undefined when it can. */
export function rootlessUnsupported(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--net', '--mount', 'true'], { stdio: 'ignore', timeout: 5000 });
  if (r.error) return `\`unshare\` cannot run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  if (r.status !== 0) return 'user namespaces are disabled here (unshare --user failed; see sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)';
  return undefined;
}

export interface UsernsState { pid: number }

function usernsPath(dataDir: string): string {
  return join(resolve(dataDir), USERNS_FILE);
}

/** The rootless cluster's `unshare` process, if one runs for this data dir. */
export function readUserns(dataDir: string): UsernsState | undefined {
  const p = usernsPath(dataDir);
  if (!existsSync(p)) return undefined;
  const s = JSON.parse(readFileSync(p, 'utf8')) as UsernsState;
  return isOurUnshare(s.pid) ? s : undefined;
}

/** True when pid is alive and is an `unshare` we started (PIDs get reused). */
function isOurUnshare(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)unshare$/.test(argv[0] ?? '') && argv.includes('svcnet-rootless');
  } catch {
    return false;
  }
}

/** The cluster's first process (PID 1 of its PID namespace), as the host numbers it. */
function clusterInitPid(unsharePid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `svcnet up ARGV` as the rootless cluster and waits for it: binds the API
 * address here, starts the cluster in new namespaces with the socket as fd 3,
 * forwards Ctrl-C / SIGTERM, and returns its exit code.
 */
export async function runRootlessUp(argv: readonly string[], o: { dataDir: string; host: string; port: number; entry: string }): Promise<number> {
  mkdirSync(resolve(o.dataDir), { recursive: true });
  const server: Server = createServer();
  await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(o.port, o.host, () => res()); });
  const port = (server.address() as { port: number }).port;
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const args = [...argv.filter((a, i) => !(a === '--listen' || argv[i - 1] === '--listen' || a.startsWith('--listen='))), '--listen', `${o.host}:${port}`];
  const child: ChildProcess = spawn('unshare', [
    '--user', '--map-root-user', '--net', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child',
    'sh', '-c', SETUP, 'svcnet-rootless', process.execPath, ...NODE_FLAGS, o.entry, 'up', ...args,
  ], {
    stdio: ['inherit', 'inherit', 'inherit', fd],
    // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the cluster in order.
    detached: true,
    // iptables-legacy's lock lives in /run, which belongs to the real root.
    env: { ...process.env, [ROOTLESS_ENV]: '1', [LISTEN_FD_ENV]: '3', XTABLES_LOCKFILE: join(resolve(o.dataDir), 'xtables.lock') },
  });
  // The cluster holds the socket now; ours must not accept on it.
  server.close();
  writeFileSync(usernsPath(o.dataDir), JSON.stringify({ pid: child.pid }, null, 2) + '\n');
  const stop = () => {
    const init = child.pid ? clusterInitPid(child.pid) : undefined;
    // The cluster cleans up on SIGTERM; if it is not there yet, ending unshare ends it (--kill-child).
    try { process.kill(init ?? child.pid!, 'SIGTERM'); } catch { /* already gone */ }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await new Promise<number>((res, rej) => {
      child.once('error', rej);
      child.once('exit', (code, sig) => res(code ?? (sig ? 128 : 1)));
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    rmSync(usernsPath(o.dataDir), { force: true });
  }
}

/**
 * Inside the rootless cluster: accepts on the API socket bound in the host's
 * namespace (fd) and relays each connection to the API server here.
 */
export function relayHostListener(fd: number, target: { host: string; port: number }): Promise<{ close(): void }> {
  const conns = new Set<Socket>();
  const server = createServer({ noDelay: true }, (c) => {
    const u = connect({ host: target.host, port: target.port, noDelay: true });
    conns.add(c); conns.add(u);
    const end = () => { c.destroy(); u.destroy(); conns.delete(c); conns.delete(u); };
    c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
    c.pipe(u); u.pipe(c);
  });
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen({ fd }, () => res({ close() { server.close(); for (const s of conns) s.destroy(); } }));
  });
}

/**
 * Runs this svcnet command again inside the rootless cluster's namespaces
 * (user, mount, network, PID), or returns undefined when the data dir has no
 * rootless cluster or we are root already.
 */
export function reenterRootless(dataDir: string, argv: readonly string[], entry: string): Promise<number> | undefined {
  if (isRoot() || process.env[ROOTLESS_ENV]) return undefined;
  const s = readUserns(dataDir);
  if (!s) return undefined;
  const init = clusterInitPid(s.pid);
  if (!init) return undefined;
  return new Promise((res, rej) => {
    const child = spawn('nsenter', ['--target', String(init), '--user', '--mount', '--net', '--pid', '--preserve-credentials', '--',
      process.execPath, ...NODE_FLAGS, entry, ...argv], { stdio: 'inherit', env: { ...process.env, [ROOTLESS_ENV]: '1' } });
    child.once('error', rej);
    child.once('exit', (code, sig) => res(code ?? (sig ? 128 : 1)));
  });
}

/** `svcnet down` for a rootless cluster: ends its PID namespace (everything in it goes). */
export function stopRootless(dataDir: string): boolean {
  const s = readUserns(dataDir);
  rmSync(usernsPath(dataDir), { force: true });
  if (!s) return false;
  try { process.kill(s.pid, 'SIGKILL'); } catch { return false; }
  return true;
}
