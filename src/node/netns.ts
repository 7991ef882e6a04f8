// The narrow interface between the node agent / topology and the kernel's
// network namespaces, with the real implementation (iproute2's `ip`) and a
// stateful fake for unit tests (the knftables `Fake` idea: same contract,
// state you can inspect, and a tiny packet tracer over it).
//
// Link and route changes are grouped into one `apply(netns, ops)` call: the
// real implementation runs them as a single `ip -n NS -batch -` process, so a
// pod sandbox costs three processes, not a dozen. Addresses and routes use
// `replace`, so re-applying a plan is harmless (crash recovery re-runs it).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeError } from './errors.js';
import { cidrContains, parseCidr4, parseIPv4 } from './ipv4.js';
import { checkIfName, checkNetnsName } from './names.js';

export type NetOp =
  /** A veth pair: `name` in this namespace, `peer` in `peerNetns`. */
  | { op: 'addVeth'; name: string; peer: string; peerNetns: string }
  | { op: 'addBridge'; name: string }
  | { op: 'setMaster'; link: string; master: string }
  /** `cidr` is address/prefix, e.g. 10.244.1.5/32. */
  | { op: 'setAddr'; link: string; cidr: string }
  | { op: 'setUp'; link: string }
  | { op: 'delLink'; link: string }
  /** `dst` is a CIDR or 'default'. */
  | { op: 'addRoute'; dst: string; via?: string; dev?: string; src?: string; onlink?: boolean }
  | { op: 'delRoute'; dst: string };

export interface ExecOptions {
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface Netns {
  /** Names of existing namespaces that start with `prefix` (all when ''). */
  listNamespaces(prefix: string): Promise<string[]>;
  exists(netns: string): Promise<boolean>;
  createNamespace(netns: string): Promise<void>;
  /** Removes the name; the kernel frees the namespace (and its veths) when no process is left in it. */
  deleteNamespace(netns: string): Promise<void>;
  /** PIDs of the processes living in the namespace. */
  pids(netns: string): Promise<number[]>;
  /** Applies the operations in order, in one go; stops at the first failure. */
  apply(netns: string, ops: readonly NetOp[]): Promise<void>;
  addVeth(netns: string, name: string, peerNetns: string, peer: string): Promise<void>;
  addBridge(netns: string, name: string): Promise<void>;
  setAddr(netns: string, link: string, cidr: string): Promise<void>;
  setUp(netns: string, link: string): Promise<void>;
  addRoute(netns: string, route: Omit<Extract<NetOp, { op: 'addRoute' }>, 'op'>): Promise<void>;
  sysctl(netns: string, key: string, value: string): Promise<void>;
  /** Runs argv inside the namespace (`ip netns exec`). */
  exec(netns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Writes /etc/netns/<netns>/<file> (resolv.conf, hosts, hostname): `ip netns exec` bind-mounts it over /etc/<file>. */
  writeEtcFile(netns: string, file: string, content: string): Promise<void>;
  /** Removes /etc/netns/<netns> (what writeEtcFile made). */
  removeEtcDir(netns: string): Promise<void>;
  /** Names of the /etc/netns directories that start with `prefix` (left behind by a crash, maybe without a namespace). */
  listEtcDirs(prefix: string): Promise<string[]>;
  /** SIGKILLs every process living in the namespace; resolves once none is left (or after `timeoutMs`, default 5 s). */
  killAll(netns: string, timeoutMs?: number): Promise<void>;
}

/** Validates names in an op list before anything runs (both implementations). */
export function checkOps(ops: readonly NetOp[]): void {
  for (const o of ops) {
    switch (o.op) {
      case 'addVeth': checkIfName(o.name); checkIfName(o.peer); checkNetnsName(o.peerNetns); break;
      case 'addBridge': checkIfName(o.name); break;
      case 'setMaster': checkIfName(o.link); checkIfName(o.master); break;
      case 'setAddr': checkIfName(o.link); parseAddrCidr(o.cidr); break;
      case 'setUp': case 'delLink': checkIfName(o.link); break;
      case 'addRoute':
        if (o.dst !== 'default') parseCidr4(o.dst);
        if (o.via !== undefined) parseIPv4(o.via);
        if (o.src !== undefined) parseIPv4(o.src);
        if (o.dev !== undefined) checkIfName(o.dev);
        if (o.via === undefined && o.dev === undefined) throw new NodeError('BAD_CIDR', `route to ${o.dst} needs via or dev`);
        break;
      case 'delRoute': if (o.dst !== 'default') parseCidr4(o.dst); break;
    }
  }
}

/** `10.244.1.5/32` → address and prefix (host bits allowed, unlike parseCidr4). */
export function parseAddrCidr(s: string): { ip: string; prefix: number } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m || Number(m[2]) > 32) throw new NodeError('BAD_CIDR', `invalid address/prefix "${s}"`);
  parseIPv4(m[1]!);
  return { ip: m[1]!, prefix: Number(m[2]) };
}

/** One `ip -batch` line per op. */
export function renderIpBatch(ops: readonly NetOp[]): string {
  const lines = ops.map((o) => {
    switch (o.op) {
      // `name` keywords everywhere: a bare `a` would parse as `address`.
      case 'addVeth': return `link add name ${o.name} type veth peer name ${o.peer} netns ${o.peerNetns}`;
      case 'addBridge': return `link add name ${o.name} type bridge`;
      case 'setMaster': return `link set dev ${o.link} master ${o.master}`;
      case 'setAddr': return `addr replace ${o.cidr} dev ${o.link}`;
      case 'setUp': return `link set dev ${o.link} up`;
      case 'delLink': return `link del dev ${o.link}`;
      case 'addRoute': {
        const parts = ['route replace', o.dst];
        if (o.via) parts.push('via', o.via);
        if (o.dev) parts.push('dev', o.dev);
        if (o.src) parts.push('src', o.src);
        if (o.onlink) parts.push('onlink');
        return parts.join(' ');
      }
      case 'delRoute': return `route del ${o.dst}`;
    }
  });
  return lines.join('\n') + '\n';
}

/** Runs a command, collecting output; never throws for a non-zero exit. */
export function runCommand(cmd: string, args: readonly string[], opts: ExecOptions & { detached?: boolean } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: opts.env ? { ...opts.env } : process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group, so a timeout can kill what the command started too.
      detached: opts.detached ?? opts.timeoutMs !== undefined,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.on('data', (d: Buffer) => { if (stdout.length < 1 << 20) stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 1 << 20) stderr += d.toString(); });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      }, opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + e.message, timedOut });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + signalNumber(signal) : 1), stdout, stderr, timedOut });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
export function signalNumber(signal: string): number {
  return signals[signal] ?? 0;
}

export interface IpNetnsOptions {
  /** Path of the `ip` binary. Default `ip` (from PATH). */
  ip?: string;
  /** Where `ip netns exec` looks for per-namespace files. Default /etc/netns. */
  etcNetnsDir?: string;
  /** Where `ip netns` keeps its bind mounts. Default /run/netns. */
  runNetnsDir?: string;
}

function systemIp(): string {
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    try { if (statSync(`${d}/ip`).isFile()) return `${d}/ip`; } catch { /* next */ }
  }
  return 'ip';
}

/** The real thing: iproute2. */
export class IpNetns implements Netns {
  private readonly ip: string;
  private readonly etcDir: string;
  private readonly runDir: string;

  constructor(o: IpNetnsOptions = {}) {
    this.ip = o.ip ?? systemIp();
    this.etcDir = o.etcNetnsDir ?? '/etc/netns';
    this.runDir = o.runNetnsDir ?? '/run/netns';
  }

  private async ipOk(args: readonly string[], input?: string): Promise<string> {
    const r = await runCommand(this.ip, args, { input });
    if (r.code !== 0) {
      throw new NodeError('IP_COMMAND_FAILED', `ip ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}${input ? `\n--- batch ---\n${input}` : ''}`);
    }
    return r.stdout;
  }

  async listNamespaces(prefix: string): Promise<string[]> {
    // Reading the directory is what `ip netns list` does, without its per-entry id lookups.
    let names: string[];
    try { names = readdirSync(this.runDir); } catch { return []; }
    return names.filter((n) => n.startsWith(prefix)).sort();
  }

  async exists(netns: string): Promise<boolean> {
    return (await this.listNamespaces(netns)).includes(netns);
  }

  async createNamespace(netns: string): Promise<void> {
    checkNetnsName(netns);
    try {
      await this.ipOk(['netns', 'add', netns]);
    } catch (e) {
      if (await this.exists(netns)) throw new NodeError('NETNS_EXISTS', `network namespace "${netns}" already exists`, { cause: e });
      throw e;
    }
  }

  async deleteNamespace(netns: string): Promise<void> {
    checkNetnsName(netns);
    if (!(await this.exists(netns))) return;
    await this.ipOk(['netns', 'delete', netns]);
  }

  async pids(netns: string): Promise<number[]> {
    checkNetnsName(netns);
    if (!(await this.exists(netns))) return [];
    const out = await this.ipOk(['netns', 'pids', netns]);
    return out.split('\n').map((l) => l.trim()).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  }

  async apply(netns: string, ops: readonly NetOp[]): Promise<void> {
    if (ops.length === 0) return;
    checkNetnsName(netns);
    checkOps(ops);
    await this.ipOk(['-n', netns, '-batch', '-'], renderIpBatch(ops));
  }

  addVeth(netns: string, name: string, peerNetns: string, peer: string): Promise<void> {
    return this.apply(netns, [{ op: 'addVeth', name, peer, peerNetns }]);
  }
  addBridge(netns: string, name: string): Promise<void> { return this.apply(netns, [{ op: 'addBridge', name }]); }
  setAddr(netns: string, link: string, cidr: string): Promise<void> { return this.apply(netns, [{ op: 'setAddr', link, cidr }]); }
  setUp(netns: string, link: string): Promise<void> { return this.apply(netns, [{ op: 'setUp', link }]); }
  addRoute(netns: string, route: Omit<Extract<NetOp, { op: 'addRoute' }>, 'op'>): Promise<void> {
    return this.apply(netns, [{ op: 'addRoute', ...route }]);
  }

  async sysctl(netns: string, key: string, value: string): Promise<void> {
    if (!/^[a-z0-9_.\/-]+$/i.test(key)) throw new NodeError('BAD_NAME', `invalid sysctl key "${key}"`);
    const r = await this.exec(netns, ['sysctl', '-qw', `${key}=${value}`]);
    if (r.code !== 0) throw new NodeError('IP_COMMAND_FAILED', `sysctl ${key}=${value} in ${netns}: ${r.stderr.trim()}`);
  }

  exec(netns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    checkNetnsName(netns);
    return runCommand(this.ip, ['netns', 'exec', netns, ...argv], opts);
  }

  async writeEtcFile(netns: string, file: string, content: string): Promise<void> {
    checkNetnsName(netns);
    if (!/^[a-z.]+$/.test(file)) throw new NodeError('BAD_NAME', `invalid /etc file name "${file}"`);
    const dir = join(this.etcDir, netns);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), content);
  }

  async removeEtcDir(netns: string): Promise<void> {
    checkNetnsName(netns);
    rmSync(join(this.etcDir, netns), { recursive: true, force: true });
  }

  async listEtcDirs(prefix: string): Promise<string[]> {
    try { return readdirSync(this.etcDir).filter((n) => n.startsWith(prefix)).sort(); } catch { return []; }
  }

  async killAll(netns: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pids = (await this.pids(netns)).filter((p) => p !== process.pid);
      if (pids.length === 0) return;
      for (const p of pids) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
      if (Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 20));
      // Zombies still count in `ip netns pids`; they vanish when their parent reaps them.
      const left = (await this.pids(netns)).filter((p) => p !== process.pid && !isZombie(p));
      if (left.length === 0) return;
    }
  }
}

/** Has the process exited, waiting only to be reaped? */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------
// The fake.

export interface FakeLink {
  name: string;
  type: 'veth' | 'bridge' | 'loopback';
  up: boolean;
  /** CIDR strings as given (address/prefix). */
  addrs: string[];
  master?: string;
  peer?: { netns: string; name: string };
}

export interface FakeRoute { dst: string; via?: string; dev?: string; src?: string; onlink?: boolean }

export interface FakeNamespace {
  links: Map<string, FakeLink>;
  routes: FakeRoute[];
  sysctls: Map<string, string>;
  etc: Map<string, string>;
  pids: Set<number>;
}

export type TraceResult =
  | { delivered: true; netns: string; hops: string[] }
  | { delivered: false; reason: string; hops: string[] };

/** An in-memory kernel: namespaces, links, addresses, routes, sysctls, /etc/netns files. */
export class FakeNetns implements Netns {
  readonly namespaces = new Map<string, FakeNamespace>();
  /** Every exec call, for assertions. */
  readonly execs: { netns: string; argv: string[] }[] = [];
  /** What exec answers; default exit 0 with no output. */
  execHandler: (netns: string, argv: readonly string[]) => ExecResult = () => ({ code: 0, stdout: '', stderr: '', timedOut: false });
  /** Number of `apply` calls (one per `ip -batch` in the real thing). */
  applyCalls = 0;

  private ns(netns: string): FakeNamespace {
    const n = this.namespaces.get(netns);
    if (!n) throw new NodeError('NETNS_NOT_FOUND', `Cannot open network namespace "${netns}": No such file or directory`);
    return n;
  }

  async listNamespaces(prefix: string): Promise<string[]> {
    return [...this.namespaces.keys()].filter((n) => n.startsWith(prefix)).sort();
  }
  async exists(netns: string): Promise<boolean> { return this.namespaces.has(netns); }

  async createNamespace(netns: string): Promise<void> {
    checkNetnsName(netns);
    if (this.namespaces.has(netns)) throw new NodeError('NETNS_EXISTS', `network namespace "${netns}" already exists`);
    this.namespaces.set(netns, {
      links: new Map([['lo', { name: 'lo', type: 'loopback', up: false, addrs: ['127.0.0.1/8'] }]]),
      routes: [], sysctls: new Map(), etc: new Map(), pids: new Set(),
    });
  }

  async deleteNamespace(netns: string): Promise<void> {
    const n = this.namespaces.get(netns);
    if (!n) return;
    // A veth pair dies with either end.
    for (const l of n.links.values()) {
      if (l.peer) this.namespaces.get(l.peer.netns)?.links.delete(l.peer.name);
    }
    this.namespaces.delete(netns);
    for (const other of this.namespaces.values()) {
      other.routes = other.routes.filter((r) => !r.dev || other.links.has(r.dev));
    }
  }

  async pids(netns: string): Promise<number[]> {
    return [...(this.namespaces.get(netns)?.pids ?? [])];
  }

  async apply(netns: string, ops: readonly NetOp[]): Promise<void> {
    this.applyCalls++;
    checkOps(ops);
    const n = this.ns(netns);
    for (const o of ops) this.applyOne(netns, n, o);
  }

  private link(n: FakeNamespace, netns: string, name: string): FakeLink {
    const l = n.links.get(name);
    if (!l) throw new NodeError('LINK_NOT_FOUND', `Cannot find device "${name}" in ${netns}`);
    return l;
  }

  private applyOne(netns: string, n: FakeNamespace, o: NetOp): void {
    switch (o.op) {
      case 'addVeth': {
        const peerNs = this.ns(o.peerNetns);
        if (n.links.has(o.name)) throw new NodeError('LINK_EXISTS', `RTNETLINK answers: File exists (${o.name} in ${netns})`);
        if (peerNs.links.has(o.peer) || (peerNs === n && o.peer === o.name)) {
          throw new NodeError('LINK_EXISTS', `RTNETLINK answers: File exists (${o.peer} in ${o.peerNetns})`);
        }
        n.links.set(o.name, { name: o.name, type: 'veth', up: false, addrs: [], peer: { netns: o.peerNetns, name: o.peer } });
        peerNs.links.set(o.peer, { name: o.peer, type: 'veth', up: false, addrs: [], peer: { netns, name: o.name } });
        return;
      }
      case 'addBridge':
        if (n.links.has(o.name)) throw new NodeError('LINK_EXISTS', `RTNETLINK answers: File exists (${o.name} in ${netns})`);
        n.links.set(o.name, { name: o.name, type: 'bridge', up: false, addrs: [] });
        return;
      case 'setMaster': {
        const l = this.link(n, netns, o.link);
        const m = this.link(n, netns, o.master);
        if (m.type !== 'bridge') throw new NodeError('IP_COMMAND_FAILED', `${o.master} is not a bridge`);
        l.master = o.master;
        return;
      }
      case 'setAddr': {
        const l = this.link(n, netns, o.link);
        const ip = parseAddrCidr(o.cidr).ip;
        l.addrs = l.addrs.filter((a) => parseAddrCidr(a).ip !== ip);
        l.addrs.push(o.cidr);
        return;
      }
      case 'setUp': this.link(n, netns, o.link).up = true; return;
      case 'delLink': {
        const l = this.link(n, netns, o.link);
        n.links.delete(o.link);
        if (l.peer) this.namespaces.get(l.peer.netns)?.links.delete(l.peer.name);
        n.routes = n.routes.filter((r) => r.dev !== o.link);
        return;
      }
      case 'addRoute': {
        if (o.dev) this.link(n, netns, o.dev);
        if (o.via && !o.onlink && !this.connected(n, o.via, o.dev)) {
          throw new NodeError('IP_COMMAND_FAILED', `Error: Nexthop has invalid gateway (${o.via} in ${netns}).`);
        }
        const r: FakeRoute = { dst: o.dst };
        if (o.via) r.via = o.via;
        if (o.dev) r.dev = o.dev;
        if (o.src) r.src = o.src;
        if (o.onlink) r.onlink = true;
        n.routes = n.routes.filter((x) => x.dst !== o.dst);
        n.routes.push(r);
        return;
      }
      case 'delRoute': {
        const before = n.routes.length;
        n.routes = n.routes.filter((x) => x.dst !== o.dst);
        if (n.routes.length === before) throw new NodeError('IP_COMMAND_FAILED', `RTNETLINK answers: No such process (route ${o.dst} in ${netns})`);
        return;
      }
    }
  }

  /** Is `ip` inside a connected subnet of an up link (optionally a given one)? */
  private connected(n: FakeNamespace, ip: string, dev?: string): FakeLink | undefined {
    for (const l of n.links.values()) {
      if (dev && l.name !== dev) continue;
      if (!l.up) continue;
      for (const a of l.addrs) {
        const { ip: addr, prefix } = parseAddrCidr(a);
        const net = parseCidr4(`${formatNetwork(addr, prefix)}/${prefix}`);
        if (prefix < 32 && cidrContains(net, ip)) return l;
      }
    }
    return undefined;
  }

  async addVeth(netns: string, name: string, peerNetns: string, peer: string): Promise<void> {
    return this.apply(netns, [{ op: 'addVeth', name, peer, peerNetns }]);
  }
  async addBridge(netns: string, name: string): Promise<void> { return this.apply(netns, [{ op: 'addBridge', name }]); }
  async setAddr(netns: string, link: string, cidr: string): Promise<void> { return this.apply(netns, [{ op: 'setAddr', link, cidr }]); }
  async setUp(netns: string, link: string): Promise<void> { return this.apply(netns, [{ op: 'setUp', link }]); }
  async addRoute(netns: string, route: Omit<Extract<NetOp, { op: 'addRoute' }>, 'op'>): Promise<void> {
    return this.apply(netns, [{ op: 'addRoute', ...route }]);
  }
  async sysctl(netns: string, key: string, value: string): Promise<void> { this.ns(netns).sysctls.set(key, value); }

  async exec(netns: string, argv: readonly string[]): Promise<ExecResult> {
    this.ns(netns);
    this.execs.push({ netns, argv: [...argv] });
    return this.execHandler(netns, argv);
  }

  async writeEtcFile(netns: string, file: string, content: string): Promise<void> {
    this.ns(netns).etc.set(file, content);
  }
  async removeEtcDir(netns: string): Promise<void> {
    this.namespaces.get(netns)?.etc.clear();
    this.strayEtcDirs.delete(netns);
  }
  /** /etc/netns directories whose namespace is gone (a crash between the two removals). */
  readonly strayEtcDirs = new Set<string>();
  async listEtcDirs(prefix: string): Promise<string[]> {
    const withFiles = [...this.namespaces.entries()].filter(([, n]) => n.etc.size > 0).map(([k]) => k);
    return [...new Set([...withFiles, ...this.strayEtcDirs])].filter((n) => n.startsWith(prefix)).sort();
  }
  async killAll(netns: string): Promise<void> {
    this.namespaces.get(netns)?.pids.clear();
  }

  /** Local addresses of a namespace (up links only). */
  localAddrs(netns: string): string[] {
    const n = this.ns(netns);
    return [...n.links.values()].filter((l) => l.up).flatMap((l) => l.addrs.map((a) => parseAddrCidr(a).ip));
  }

  /**
   * Follows a packet for `dst` from namespace `from` by longest-prefix
   * routing, across veths and bridges, until a namespace owns the address.
   * Forwarding through a namespace requires its net.ipv4.ip_forward=1.
   */
  trace(from: string, dst: string): TraceResult {
    const hops: string[] = [];
    let cur = from;
    for (let ttl = 0; ttl < 16; ttl++) {
      hops.push(cur);
      const n = this.namespaces.get(cur);
      if (!n) return { delivered: false, reason: `namespace ${cur} is gone`, hops };
      if (this.localAddrs(cur).includes(dst)) return { delivered: true, netns: cur, hops };
      if (ttl > 0 && n.sysctls.get('net.ipv4.ip_forward') !== '1') {
        return { delivered: false, reason: `${cur} does not forward (ip_forward=0)`, hops };
      }
      // Routing table: explicit routes plus connected subnets of up links.
      let best: { prefix: number; dev: string; via?: string } | undefined;
      const consider = (prefix: number, dev: string, via?: string): void => {
        if (!best || prefix > best.prefix) best = { prefix, dev, via };
      };
      for (const l of n.links.values()) {
        if (!l.up || l.type === 'loopback') continue;
        for (const a of l.addrs) {
          const { ip, prefix } = parseAddrCidr(a);
          if (prefix < 32 && cidrContains(parseCidr4(`${formatNetwork(ip, prefix)}/${prefix}`), dst)) consider(prefix, l.name);
        }
      }
      for (const r of n.routes) {
        const c = r.dst === 'default' ? { base: 0, prefix: 0 } : parseCidr4(r.dst);
        if (!cidrContains(c, dst)) continue;
        const dev = r.dev ?? (r.via ? this.connected(n, r.via)?.name : undefined);
        if (dev) consider(c.prefix, dev, r.via);
      }
      if (!best) return { delivered: false, reason: `no route to ${dst} in ${cur}`, hops };
      const nextHopIP = best.via ?? dst;
      const next = this.l2Deliver(cur, best.dev, nextHopIP);
      if (!next) return { delivered: false, reason: `no neighbour ${nextHopIP} behind ${best.dev} in ${cur}`, hops };
      cur = next;
    }
    return { delivered: false, reason: 'TTL exceeded', hops };
  }

  /** Which namespace answers ARP for `ip` when a packet leaves `netns` through `dev`? */
  private l2Deliver(netns: string, dev: string, ip: string): string | undefined {
    // The L2 segment: follow veth peers and bridge membership from the outgoing link.
    const seen = new Set<string>();
    const endpoints: { netns: string; link: FakeLink }[] = [];
    const visit = (ns: string, name: string): void => {
      const key = `${ns}/${name}`;
      if (seen.has(key)) return;
      seen.add(key);
      const l = this.namespaces.get(ns)?.links.get(name);
      if (!l || !l.up) return;
      endpoints.push({ netns: ns, link: l });
      if (l.peer) visit(l.peer.netns, l.peer.name);
      const n = this.namespaces.get(ns)!;
      if (l.master) visit(ns, l.master);
      if (l.type === 'bridge') for (const port of n.links.values()) if (port.master === name) visit(ns, port.name);
    };
    visit(netns, dev);
    for (const e of endpoints) {
      if (e.netns === netns && e.link.name === dev) continue;
      if (e.link.master) continue; // an enslaved port does no IP of its own
      if (e.link.addrs.some((a) => parseAddrCidr(a).ip === ip)) return e.netns;
      // Linux answers ARP for any local address on any interface (arp_ignore=0):
      // a node's gateway address on lo answers through every pod veth.
      if (this.localAddrs(e.netns).includes(ip)) return e.netns;
    }
    return undefined;
  }
}

function formatNetwork(ip: string, prefix: number): string {
  const n = parseIPv4(ip);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const b = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (b >>> s) & 255).join('.');
}
