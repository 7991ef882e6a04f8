// Real etcd servers for tests: /usr/bin/etcd (Debian's etcd-server) on
// loopback ports, each in its own temp dir, killed by PID and the dir removed
// when the test stops them, and at process exit whatever a failed test left.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BINARY = '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdMissing(): string | undefined {
  return existsSync(ETCD_BINARY) ? undefined : `${ETCD_BINARY} is not installed (Debian package etcd-server)`;
}

export interface EtcdMember {
  name: string;
  clientURL: string;
  peerURL: string;
  dataDir: string;
  pid(): number | undefined;
  /** Kills the process (SIGKILL unless told otherwise) and waits for it to exit. The data stays. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and data (after stop). */
  start(): Promise<void>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** The client URLs, comma-separated: what `etcd:` takes. */
  endpoints: string;
  /** Stops every member and removes the data. Idempotent. */
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
// A test that throws or times out still leaves no etcd and no data dir behind.
process.on('exit', () => {
  for (const c of live) {
    try { if (c.pid) process.kill(c.pid, 'SIGKILL'); } catch { /* gone already */ }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function healthy(clientURL: string): Promise<boolean> {
  try {
    const r = await fetch(`${clientURL}/health`, { signal: AbortSignal.timeout(500) });
    return r.ok && ((await r.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

export interface EtcdOptions {
  /** Durable commits, as a real deployment runs (the benches): fsync on, etcd's default election timing. Default false (tests). */
  durable?: boolean;
  /** Where the data dirs go (default the system's temp dir). */
  parent?: string;
}

/**
 * Starts an etcd cluster of `size` members (1 by default) on loopback. Tuned
 * for tests unless `durable`: fast elections, no fsync.
 */
export async function startEtcd(size = 1, o: EtcdOptions = {}): Promise<EtcdCluster> {
  const root = mkdtempSync(join(o.parent ?? tmpdir(), 'svcnet-etcd-'));
  dirs.add(root);
  for (let attempt = 0; ; attempt++) {
    const specs = [];
    for (let i = 0; i < size; i++) {
      specs.push({ name: `m${i}`, clientURL: `http://127.0.0.1:${await freePort()}`, peerURL: `http://127.0.0.1:${await freePort()}`, dataDir: join(root, `a${attempt}-m${i}`) });
    }
    const initialCluster = specs.map((s) => `${s.name}=${s.peerURL}`).join(',');
    const members = specs.map((s) => member(s, initialCluster, o.durable ?? false));
    try {
      await Promise.all(members.map((m) => m.start()));
      const cluster: EtcdCluster = {
        members,
        endpoints: members.map((m) => m.clientURL).join(','),
        async destroy() {
          await Promise.all(members.map((m) => m.stop()));
          rmSync(root, { recursive: true, force: true });
          dirs.delete(root);
        },
      };
      return cluster;
    } catch (e) {
      await Promise.all(members.map((m) => m.stop()));
      // A port taken between freePort() and etcd's bind: try other ports.
      if (attempt >= 2) {
        rmSync(root, { recursive: true, force: true });
        dirs.delete(root);
        throw e;
      }
    }
  }
}

function member(s: { name: string; clientURL: string; peerURL: string; dataDir: string }, initialCluster: string, durable: boolean): EtcdMember {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const m: EtcdMember = {
    ...s,
    pid: () => child?.pid,
    async start() {
      if (child) throw new Error(`etcd ${s.name} is running`);
      log = '';
      const c = spawn(ETCD_BINARY, [
        '--name', s.name, '--data-dir', s.dataDir,
        '--listen-client-urls', s.clientURL, '--advertise-client-urls', s.clientURL,
        '--listen-peer-urls', s.peerURL, '--initial-advertise-peer-urls', s.peerURL,
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new',
        ...(durable ? [] : ['--heartbeat-interval', '10', '--election-timeout', '100', '--unsafe-no-fsync']),
        '--logger', 'zap', '--log-level', 'error',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      live.add(c);
      c.stderr!.setEncoding('utf8');
      c.stderr!.on('data', (d: string) => { log = (log + d).slice(-4000); });
      exited = new Promise((resolve) => c.once('exit', () => {
        live.delete(c);
        if (child === c) child = undefined;
        resolve();
      }));
      const deadline = Date.now() + 15_000;
      while (!(await healthy(s.clientURL))) {
        if (!child) throw new Error(`etcd ${s.name} exited while starting: ${log}`);
        if (Date.now() > deadline) throw new Error(`etcd ${s.name} not healthy after 15 s: ${log}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(signal = 'SIGKILL') {
      const c = child;
      if (!c) return;
      try { process.kill(c.pid!, signal); } catch { /* exited meanwhile */ }
      await exited;
    },
  };
  return m;
}
