// The container runtime half of the agent ("CRI + CNI"): pod sandboxes and
// container processes, and the records that let a restarted agent adopt them.
//
// Sandbox = a network namespace `<prefix>-pod-<ns>-<name>-<uid hash>` with
//   lo up, eth0 = <podIP>/32, default via <gateway> onlink; its veth peer
//   `veth<hash(uid)>` in the node's namespace with a /32 route to the pod.
//   The gateway (first address of the podCIDR) lives on the node's lo, and
//   Linux answers ARP for any local address on any interface, so every pod
//   reaches it with no bridge and no proxy_arp: all pod traffic is routed by
//   the node (the ptp/Calico model), so the node's netfilter sees every
//   packet, including pod-to-pod on one node (no br_netfilter needed).
//   /etc/netns/<netns>/{resolv.conf,hosts,hostname} give the pod its DNS
//   settings, hosts file and hostname files (`ip netns exec` bind-mounts them).
//
// Container = a process started as
//   ip netns exec <netns> unshare --uts sh -c 'hostname "$0"; exec "$@"' <pod> <argv…>
//   so it runs in the pod's network namespace, with the pod's name as its
//   hostname, and with the same PID all along (every step execs). It is
//   detached (its own session and process group: the whole tree can be
//   signalled) and writes stdout and stderr to a log file per container and
//   restart, so it outlives the agent. Its stdin is /dev/null, or with
//   `stdin: true` a pipe the agent holds for attach (attach.ts).
//
// Records: <dataDir>/pods/<uid>/pod.json holds the sandbox (netns, IP, veth)
// and every container's pid, /proc start time, state and restart count. It is
// written before the sandbox is made (so a crash half-way leaves a record to
// clean up) and on every container change.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { NodeError } from './errors.js';
import { hostVethName, podNetnsName } from './names.js';
import { isZombie, signalNumber, type ExecOptions, type ExecResult, type Netns, runCommand } from './netns.js';
import type { ContainerStateView, TerminatedView } from './status.js';

// ---------------------------------------------------------------------------
// Processes.

export interface ProcessSpec {
  netns: string;
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** Set as the process's hostname (its own UTS namespace); skipped when undefined. */
  hostname?: string;
  logFile: string;
  /** Pass a pipe as fd 3 and wait for the process to write a line to it (built-in images). */
  readyFd: boolean;
  /** Give it a stdin pipe that the agent holds (`stdin: true`, for attach); otherwise /dev/null. */
  stdin?: boolean;
}

export interface ExitStatus {
  exitCode: number;
  signal?: number;
  /** The process was adopted: it is gone, but nobody saw how it ended. */
  unknown?: boolean;
}

export interface StartedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a reused PID apart. */
  startTicks: number;
  exited: Promise<ExitStatus>;
  /** true once the process said it listens (at once without readyFd); false if it exited or took too long. */
  listening: Promise<boolean>;
  /** Its stdin pipe, when asked for (not after adoption: the pipe died with the agent that held it). */
  stdin?: Writable;
}

export interface ProcessRunner {
  start(spec: ProcessSpec): Promise<StartedProcess>;
  /** A process an earlier agent started, watched by PID; undefined when it is gone. */
  adopt(pid: number, startTicks: number): StartedProcess | undefined;
  /** Signals the process group (the container and everything it started). */
  signalGroup(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void;
  /** Runs a command in a namespace (exec hooks); see Netns.exec. */
  exec(netns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Does argv[0] exist for the container's PATH? Returns the error text when not. */
  checkExecutable(argv0: string, path: string): string | undefined;
}

export function procStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the comm: state is field 3, starttime field 22 → index 19.
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

function alive(pid: number, startTicks: number): boolean {
  const t = procStartTicks(pid);
  return t !== undefined && t === startTicks && !isZombie(pid);
}

export interface HostProcessRunnerOptions {
  ip?: string;
  /** How long a built-in image may take to listen before it is reported started anyway. Default 10 s. */
  readyTimeoutMs?: number;
  /** How often adopted processes are checked for exit. Default 500 ms. */
  pollMs?: number;
}

/** The real runner: `ip netns exec`, detached process groups, log files. */
export class HostProcessRunner implements ProcessRunner {
  private readonly ip: string;
  private readonly readyTimeoutMs: number;
  private readonly pollMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tools: { unshare: string; sh: string; hostname: string };

  constructor(o: HostProcessRunnerOptions = {}) {
    this.ip = o.ip ?? systemTool('ip');
    this.tools = { unshare: systemTool('unshare'), sh: systemTool('sh'), hostname: systemTool('hostname') };
    this.readyTimeoutMs = o.readyTimeoutMs ?? 10_000;
    this.pollMs = o.pollMs ?? 500;
  }

  async start(spec: ProcessSpec): Promise<StartedProcess> {
    mkdirSync(join(spec.logFile, '..'), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    const args = ['netns', 'exec', spec.netns];
    if (spec.hostname !== undefined) {
      // Absolute paths: the container's PATH is the user's to set.
      args.push(this.tools.unshare, '--uts', this.tools.sh, '-c', `${this.tools.hostname} "$0" 2>/dev/null; exec "$@"`, spec.hostname);
    }
    args.push(...spec.argv);
    let child;
    try {
      child = spawn(this.ip, args, {
        detached: true, cwd: spec.cwd, env: { ...spec.env },
        stdio: spec.readyFd ? [spec.stdin ? 'pipe' : 'ignore', fd, fd, 'pipe'] : [spec.stdin ? 'pipe' : 'ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r));
      throw new NodeError('SANDBOX_FAILED', `starting ${spec.argv[0]}: ${err.message}`);
    }
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve(signal ? { exitCode: 128 + signalNumber(signal), signal: signalNumber(signal) } : { exitCode: code ?? 0 });
      });
    });
    // The agent must not stay alive for its containers, nor they die with it.
    child.unref();
    const stdin = child.stdin ?? undefined;
    if (stdin) {
      // A container that exits (or closes its stdin) makes writes fail with EPIPE: not an agent error.
      stdin.on('error', () => undefined);
      (stdin as Writable & { unref?(): void }).unref?.();
    }
    const startTicks = procStartTicks(pid) ?? 0;
    let listening: Promise<boolean>;
    if (spec.readyFd) {
      const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void; unref?(): void };
      listening = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => { done(false); }, this.readyTimeoutMs);
        this.timers.add(t);
        const done = (v: boolean): void => {
          clearTimeout(t);
          this.timers.delete(t);
          pipe.removeAllListeners('data');
          pipe.destroy();
          resolve(v);
        };
        pipe.on('data', () => done(true));
        pipe.on('error', () => undefined);
        void exited.then(() => done(false));
      });
      (pipe as { unref?(): void }).unref?.();
    } else {
      listening = Promise.resolve(true);
    }
    return { pid, startTicks, exited, listening, ...(stdin ? { stdin } : {}) };
  }

  adopt(pid: number, startTicks: number): StartedProcess | undefined {
    if (!alive(pid, startTicks)) return undefined;
    const exited = new Promise<ExitStatus>((resolve) => {
      const t = setInterval(() => {
        if (alive(pid, startTicks)) return;
        clearInterval(t);
        this.timers.delete(t);
        // kubelet reports a container it can no longer find this way.
        resolve({ exitCode: 137, unknown: true });
      }, this.pollMs);
      t.unref();
      this.timers.add(t);
    });
    return { pid, startTicks, exited, listening: Promise.resolve(true) };
  }

  signalGroup(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
    try { process.kill(-pid, signal); } catch { /* the group is gone */ }
  }

  exec(netns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return runCommand(this.ip, ['netns', 'exec', netns, ...argv], opts);
  }

  checkExecutable(argv0: string, path: string): string | undefined {
    return findExecutable(argv0, path) ? undefined : `exec: "${argv0}": executable file not found in $PATH`;
  }

  /** Stops polling adopted processes (they keep running). */
  close(): void {
    for (const t of this.timers) { clearTimeout(t); clearInterval(t); }
    this.timers.clear();
  }
}

/** A host tool by absolute path (falls back to the bare name for PATH lookup). */
export function systemTool(name: string): string {
  return findExecutable(name, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin') ?? name;
}

export function findExecutable(argv0: string, path: string): string | undefined {
  const isExec = (p: string): boolean => {
    try { const s = statSync(p); return s.isFile() && (s.mode & 0o111) !== 0; } catch { return false; }
  };
  if (argv0.includes('/')) return isExec(argv0) ? argv0 : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir && isExec(join(dir, argv0))) return join(dir, argv0);
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Records.

export interface ContainerRecord {
  name: string;
  init: boolean;
  restartCount: number;
  containerID?: string;
  pid?: number;
  startTicks?: number;
  state: ContainerStateView;
  last?: TerminatedView;
  /** The built-in image said it listens / the startup probe passed / ready, at the last write. */
  listening: boolean;
  started: boolean;
  ready: boolean;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns: string;
  hostNetwork: boolean;
  podIP?: string;
  veth?: string;
  sandboxReady: boolean;
  /** Containers will not run again: the sandbox is (being) torn down. */
  terminal: boolean;
  containers: Record<string, ContainerRecord>;
}

export class RecordStore {
  readonly podsDir: string;

  constructor(readonly dataDir: string) {
    this.podsDir = join(dataDir, 'pods');
    mkdirSync(this.podsDir, { recursive: true });
  }

  podDir(uid: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(uid)) throw new NodeError('BAD_NAME', `invalid pod uid "${uid}"`);
    return join(this.podsDir, uid);
  }

  logPath(uid: string, container: string, restartCount: number): string {
    return join(this.podDir(uid), 'logs', container, `${restartCount}.log`);
  }

  save(r: PodRecord): void {
    const dir = this.podDir(r.uid);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, 'pod.json.tmp');
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, join(dir, 'pod.json'));
  }

  load(uid: string): PodRecord | undefined {
    try { return JSON.parse(readFileSync(join(this.podDir(uid), 'pod.json'), 'utf8')) as PodRecord; } catch { return undefined; }
  }

  list(): PodRecord[] {
    let uids: string[];
    try { uids = readdirSync(this.podsDir); } catch { return []; }
    return uids.map((u) => { try { return this.load(u); } catch { return undefined; } }).filter((r): r is PodRecord => !!r);
  }

  remove(uid: string): void {
    rmSync(this.podDir(uid), { recursive: true, force: true });
  }

  /** Keeps only the current and the previous log of a container (what kubelet keeps). */
  pruneLogs(uid: string, container: string, current: number): void {
    const dir = join(this.podDir(uid), 'logs', container);
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      const n = Number(f.replace(/\.log$/, ''));
      if (Number.isInteger(n) && n < current - 1) rmSync(join(dir, f), { force: true });
    }
  }
}

// ---------------------------------------------------------------------------
// Sandboxes.

export interface SandboxConfig {
  prefix: string;
  nodeNetns: string;
  podCIDR: string;
  gateway: string;
  dnsIP: string;
  clusterDomain: string;
  /** The host's /etc/resolv.conf text, for dnsPolicy Default. */
  hostResolvConf?: string;
}

export function sandboxNetns(prefix: string, pod: Pod): string {
  const md = pod.metadata!;
  return podNetnsName(prefix, md.namespace ?? 'default', md.name ?? '', md.uid ?? '');
}

/** resolv.conf for a pod (kubelet's dns.go GetPodDNS): undefined = the host's file (dnsPolicy Default). */
export function podResolvConf(pod: Pod, c: Pick<SandboxConfig, 'dnsIP' | 'clusterDomain' | 'hostResolvConf'>): string | undefined {
  const spec = pod.spec ?? { containers: [] };
  const ns = pod.metadata?.namespace ?? 'default';
  let policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && spec.hostNetwork) policy = 'Default';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  let nameservers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'ClusterFirst') {
    nameservers = [c.dnsIP];
    searches = [`${ns}.svc.${c.clusterDomain}`, `svc.${c.clusterDomain}`, c.clusterDomain];
    options = ['ndots:5'];
  } else if (policy === 'Default') {
    if (!spec.dnsConfig) return undefined;
    const host = parseResolvConf(c.hostResolvConf ?? '');
    nameservers = host.nameservers; searches = host.searches; options = host.options;
  }
  const dc = spec.dnsConfig;
  if (dc) {
    for (const n of dc.nameservers ?? []) if (!nameservers.includes(n)) nameservers.push(n);
    for (const s of dc.searches ?? []) if (!searches.includes(s)) searches.push(s);
    for (const o of dc.options ?? []) {
      if (!o.name) continue;
      const text = o.value !== undefined ? `${o.name}:${o.value}` : o.name;
      options = options.filter((x) => x.split(':')[0] !== o.name);
      options.push(text);
    }
  }
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const n of nameservers) lines.push(`nameserver ${n}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

function parseResolvConf(text: string): { nameservers: string[]; searches: string[]; options: string[] } {
  const out = { nameservers: [] as string[], searches: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1]) out.nameservers.push(f[1]);
    else if (f[0] === 'search') out.searches = f.slice(1);
    else if (f[0] === 'options') out.options = f.slice(1);
  }
  return out;
}

/** kubelet's managed /etc/hosts (kubelet_pods.go managedHostsFileContent). */
export function podHostsFile(podIP: string, hostname: string): string {
  return [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    `${podIP}\t${hostname}`,
    '',
  ].join('\n');
}

/** Builds a pod's sandbox with an address already allocated. Idempotent enough to re-run after a crash (the namespace is recreated). */
export async function createSandbox(netns: Netns, c: SandboxConfig, pod: Pod, record: PodRecord): Promise<void> {
  const resolv = podResolvConf(pod, c);
  const hostname = pod.spec?.hostname ?? pod.metadata?.name ?? '';
  if (record.hostNetwork) {
    // Host-network pods share the node's namespace; their files go under a name of their own.
    return;
  }
  const ip = record.podIP!;
  const veth = record.veth!;
  if (await netns.exists(record.netns)) {
    await netns.killAll(record.netns);
    await netns.deleteNamespace(record.netns);
  }
  await netns.createNamespace(record.netns);
  try {
    await netns.apply(record.netns, [
      { op: 'setUp', link: 'lo' },
      { op: 'addVeth', name: 'eth0', peer: veth, peerNetns: c.nodeNetns },
      { op: 'setAddr', link: 'eth0', cidr: `${ip}/32` },
      { op: 'setUp', link: 'eth0' },
      { op: 'addRoute', dst: 'default', via: c.gateway, dev: 'eth0', onlink: true },
    ]);
    await netns.apply(c.nodeNetns, [
      { op: 'setUp', link: veth },
      { op: 'addRoute', dst: `${ip}/32`, dev: veth, src: c.gateway },
    ]);
    if (resolv !== undefined) await netns.writeEtcFile(record.netns, 'resolv.conf', resolv);
    await netns.writeEtcFile(record.netns, 'hosts', podHostsFile(ip, hostname));
    await netns.writeEtcFile(record.netns, 'hostname', `${hostname}\n`);
  } catch (e) {
    await destroySandbox(netns, c, record).catch(() => undefined);
    throw new NodeError('SANDBOX_FAILED', `pod ${record.namespace}/${record.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Kills whatever is left in the pod's namespace and removes it (its veth and the node's route go with it). */
export async function destroySandbox(netns: Netns, c: Pick<SandboxConfig, 'nodeNetns'>, record: PodRecord): Promise<void> {
  if (record.hostNetwork) return;
  await netns.killAll(record.netns);
  await netns.deleteNamespace(record.netns);
  await netns.removeEtcDir(record.netns);
  // The veth dies with the namespace once its last process is gone; remove it
  // now so that a quick re-use of the pod IP cannot meet a stale route.
  if (record.veth) await netns.apply(c.nodeNetns, [{ op: 'delLink', link: record.veth }]).catch(() => undefined);
}

/** A record for a pod not yet started; host-network pods run in the node's namespace. */
export function newPodRecord(prefix: string, nodeNetns: string, pod: Pod): PodRecord {
  const md = pod.metadata!;
  const hostNetwork = !!pod.spec?.hostNetwork;
  return {
    uid: md.uid!, namespace: md.namespace ?? 'default', name: md.name!,
    netns: hostNetwork ? nodeNetns : sandboxNetns(prefix, pod), hostNetwork,
    veth: hostNetwork ? undefined : hostVethName(md.uid!),
    sandboxReady: false, terminal: false, containers: {},
  };
}
