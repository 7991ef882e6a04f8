// The userspace data plane: the proxy binds every service address itself (ClusterIPs,
// which are 127.x loopback addresses in this mode, external and load-balancer IPs
// when they are local, and NodePorts on the configured node addresses) and relays
// bytes to the endpoints. It is driven by the same snapshot as the kernel backends:
// `desiredListeners` (pure) says which addresses to serve with which endpoints, and
// `UserspaceProxy.apply` reconciles the open sockets with it, never cutting a
// connection that is already relayed.
//
// A service address with no usable endpoint is not bound at all, so the kernel itself
// refuses connections (TCP RST) and answers datagrams with ICMP port-unreachable: the
// same thing a REJECT rule does.
//
// Restarting without refusing a connection (HAProxy's seamless reload): the new proxy
// starts first. It either receives the old one's listening sockets (`inherited`, passed
// over an IPC channel: the same kernel sockets, so no SYN ever finds nothing listening
// and the accept queue carries over), or it waits for the addresses the old one still
// holds (EADDRINUSE), probing every 10 ms (../bindwait.ts) without holding up its sync.
// UDP sockets are bound with SO_REUSEADDR, so the new one binds at once and Linux hands
// new datagrams to the most recently bound socket.
//
// Stopping gracefully (HAProxy's soft stop, the `stop` signal): every listener closes at
// once, so that the new proxy takes the addresses (or is left alone on the sockets they
// share), and close() then lets the TCP relays already open run until they end or
// `drainTimeoutMs` passes.
import { systemClock, type Clock } from '../../client/clock.js';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import { ipFamilyOf } from '../../api/validation/ip.js';
import type { IPFamily, ProxySnapshot, SnapshotEndpoint } from '../snapshot.js';
import type { ProxyMetrics } from '../metrics.js';
import { defaultBindRetryMs, fastBindRetryMs, InUseWaiter, isAddressInUse, type BindOutcome } from '../bindwait.js';
import { RoundRobinBalancer, type AffinityPolicy, type BackendEndpoint } from './balancer.js';
import { RelayBufferPool, type RelayBufferOptions } from './buffers.js';
import { TcpServiceListener, type RelayHooks } from './tcp.js';
import { UdpServiceListener } from './udp.js';

export type ListenerKind = 'clusterIP' | 'nodePort' | 'externalIP' | 'loadBalancerIP';

export interface DesiredListener {
  /** `TCP|ip|port`: one socket per key. */
  key: string;
  protocol: 'TCP' | 'UDP';
  family: IPFamily;
  ip: string;
  port: number;
  kind: ListenerKind;
  /** ServicePort id (`ns/name:port/TCP`). */
  servicePortId: string;
  /** `ns/name:port`. */
  servicePort: string;
  /** Balancer identity: listeners of one service port and traffic policy share rotation and affinity. */
  balancerKey: string;
  endpoints: BackendEndpoint[];
  affinity: AffinityPolicy;
}

function backends(eps: readonly SnapshotEndpoint[]): BackendEndpoint[] {
  return eps.map((e) => ({ ip: e.ip, port: e.port, key: e.key }));
}

/**
 * The sockets the snapshot asks for. `nodePortAddresses` are the addresses NodePorts are
 * bound on (the node's IPs; 127.0.0.1 on a single-machine userspace cluster).
 */
export function desiredListeners(snapshot: ProxySnapshot, nodePortAddresses: readonly string[]): DesiredListener[] {
  const out: DesiredListener[] = [];
  const taken = new Set<string>();
  const push = (l: DesiredListener) => {
    // Two service ports cannot both own one address; the first (sorted by name) keeps it.
    if (taken.has(l.key)) return;
    taken.add(l.key);
    out.push(l);
  };
  for (const sp of snapshot.servicePorts) {
    if (sp.protocol !== 'TCP' && sp.protocol !== 'UDP') continue; // SCTP: not relayed in userspace
    const protocol = sp.protocol;
    const affinity: AffinityPolicy = sp.sessionAffinity === 'ClientIP'
      ? { clientIP: true, timeoutMs: sp.stickyMaxAgeSeconds * 1000 }
      : { clientIP: false, timeoutMs: 0 };
    for (const fam of sp.families) {
      const base = { protocol, family: fam.family, servicePortId: sp.id, servicePort: sp.name, affinity };
      const internal = backends(fam.internalPolicyLocal ? fam.localEndpoints : fam.clusterEndpoints);
      if (fam.hasInternalEndpoints && internal.length) {
        push({ ...base, key: `${protocol}|${fam.clusterIP}|${sp.port}`, ip: fam.clusterIP, port: sp.port, kind: 'clusterIP',
          balancerKey: `${sp.id}|${fam.family}|internal`, endpoints: internal });
      }
      const external = backends(fam.externalPolicyLocal ? fam.localEndpoints : fam.clusterEndpoints);
      if (!fam.hasExternalEndpoints || !external.length) continue;
      const ext = { ...base, balancerKey: `${sp.id}|${fam.family}|external`, endpoints: external };
      for (const ip of fam.externalIPs) push({ ...ext, key: `${protocol}|${ip}|${sp.port}`, ip, port: sp.port, kind: 'externalIP' });
      for (const ip of fam.loadBalancerIPs) push({ ...ext, key: `${protocol}|${ip}|${sp.port}`, ip, port: sp.port, kind: 'loadBalancerIP' });
      if (sp.nodePort !== 0) {
        for (const ip of nodePortAddresses) {
          if (ipFamilyOf(ip) !== fam.family) continue;
          push({ ...ext, key: `${protocol}|${ip}|${sp.nodePort}`, ip, port: sp.nodePort, kind: 'nodePort' });
        }
      }
    }
  }
  return out;
}

export interface UserspaceProxyOptions {
  /** Where NodePorts are bound. Default ['127.0.0.1']. */
  nodePortAddresses?: string[];
  /** Per endpoint attempt; the next endpoint is tried after it. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** A UDP session idle this long is forgotten. Default 30 s (conntrack's unreplied UDP timeout). */
  udpIdleTimeoutMs?: number;
  /** TCP relay read buffers (sizes, memory budget for bulk transfers). */
  relayBuffers?: RelayBufferOptions;
  /** Read accepted connections through 'data' events, the fallback when `onread` cannot be used on them (tests). */
  streamClientReads?: boolean;
  /**
   * Graceful stop: once this aborts, every listener closes at once and nothing is bound
   * any more; close() then waits for the open TCP relays (up to `drainTimeoutMs`) before
   * ending the rest. Without it, or before it aborts, close() ends every relay at once.
   */
  stop?: AbortSignal;
  /** How long close() lets open relays run after a graceful stop. Default 300 000 ms (5 min). */
  drainTimeoutMs?: number;
  /** close() starts draining after a graceful stop: how many TCP relays are still open. */
  onDrain?(openRelays: number): void;
  /**
   * An address in use (EADDRINUSE: the proxy this one replaces has not let go of it yet)
   * is retried in the background, without holding up apply(): every `bindRetryIntervalMs`
   * for this long after the proxy is created, then every second. Default 60 000 ms.
   */
  bindRetryMs?: number;
  /** Default 10 ms. */
  bindRetryIntervalMs?: number;
  /** Addresses in use began to be waited for (`waiting` > 0), or all are bound or given up (0). */
  onBindWait?(waiting: number): void;
  /**
   * Listening TCP sockets handed over by the proxy this one replaces (raw handles received
   * over an IPC channel, by listener key `TCP|ip|port`): used instead of binding. Those the
   * first apply does not want are closed.
   */
  inherited?: Map<string, object>;
  clock?: Clock;
  log?: Logger;
  metrics?: ProxyMetrics;
}

export interface ListenerStatus {
  key: string;
  protocol: 'TCP' | 'UDP';
  address: string;
  kind: ListenerKind;
  servicePort: string;
  endpoints: string[];
  affinity: AffinityPolicy;
  bound: boolean;
  /** Why the address could not be bound (EADDRNOTAVAIL: not a local address; EADDRINUSE; EACCES: port < 1024). */
  error?: string;
  /** In use by another process (the proxy this one replaces): retried until it lets go. */
  waiting?: boolean;
  active: number;
}

interface Open {
  desired: DesiredListener;
  listener?: TcpServiceListener | UdpServiceListener;
  error?: string;
}

/** A graceful stop's default drain: open relays get 5 minutes to end. */
export const defaultDrainTimeoutMs = 300_000;

export interface UserspaceApplyResult {
  /** Listeners that could not be bound this time (they are retried on the next apply). */
  failed: ListenerStatus[];
  /** Addresses in use by another process, retried in the background until they are free. */
  waiting: ListenerStatus[];
}

/** A listening socket to hand over to the proxy that replaces this one. */
export interface HandedListener {
  key: string;
  /** The socket's raw handle (node:net's TCP handle), for ChildProcess.send / process.send. */
  handle: object;
}

export class UserspaceProxy {
  private readonly open = new Map<string, Open>();
  private readonly balancers = new Map<string, RoundRobinBalancer>();
  /** Listeners removed from the snapshot whose relays are still open: ended on close(). */
  private readonly retired = new Set<TcpServiceListener>();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly hooks: RelayHooks;
  /** One pool for every TCP listener: one event loop, one shared read buffer. */
  readonly buffers: RelayBufferPool;
  private closed = false;
  /** A graceful stop began: nothing listens any more, relays drain. */
  private stopping = false;
  private closing: Promise<void> | undefined;
  private readonly waiter: InUseWaiter<string>;
  /** Since when addresses have been waited for (said once per episode). */
  private waitingSince: number | undefined;
  private readonly inherited: Map<string, object>;

  constructor(private readonly opts: UserspaceProxyOptions = {}) {
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.buffers = new RelayBufferPool(opts.relayBuffers);
    const m = opts.metrics;
    this.hooks = {
      log: this.log,
      onConnectFailure: (ep, err) => {
        m?.userspaceConnectFailuresTotal.inc();
        this.log.debug('userspace proxy: endpoint unreachable, trying another', { endpoint: ep.key, error: errorText(err) });
      },
    };
    this.inherited = new Map(opts.inherited);
    this.waiter = new InUseWaiter<string>({
      fastUntil: Date.now() + (opts.bindRetryMs ?? defaultBindRetryMs),
      intervalMs: opts.bindRetryIntervalMs ?? fastBindRetryMs,
      tryBind: (key) => this.bindWaiting(key),
      onChange: (n) => { if (n === 0) this.waitEnded(); },
    });
    if (opts.stop?.aborted) this.stopAccepting();
    else opts.stop?.addEventListener('abort', () => this.stopAccepting(), { once: true });
  }

  /** Whether a graceful stop has begun (listeners closed, relays draining). */
  get stopped(): boolean { return this.stopping; }

  /** Open TCP relays, on listeners in force and retired ones. */
  get openRelays(): number {
    let n = 0;
    for (const o of this.open.values()) if (o.listener instanceof TcpServiceListener) n += o.listener.activeConnections;
    for (const l of this.retired) n += l.activeConnections;
    return n;
  }

  /**
   * The graceful stop's first step (the `stop` signal calls it): every listener closes
   * now, relays already open keep going, and apply() binds nothing any more.
   */
  stopAccepting(): void {
    if (this.stopping || this.closed) return;
    this.stopping = true;
    this.waiter.close();
    this.closeInherited();
    for (const o of this.open.values()) if (o.listener) this.retire(o.listener);
    this.open.clear();
    this.opts.metrics?.userspaceListeners.set(0, { protocol: 'TCP' });
    this.opts.metrics?.userspaceListeners.set(0, { protocol: 'UDP' });
    this.log.info('userspace proxy stopped accepting; open connections drain', { openRelays: this.openRelays });
  }

  /** Closes a listener; a TCP one is kept (retired) until its relays end. */
  private retire(l: TcpServiceListener | UdpServiceListener): void {
    void l.close();
    if (l instanceof TcpServiceListener) this.retired.add(l);
  }

  private newListener(d: DesiredListener): TcpServiceListener | UdpServiceListener {
    return d.protocol === 'TCP'
      ? new TcpServiceListener({ ip: d.ip, port: d.port, servicePort: d.servicePort, balancer: this.balancer(d.balancerKey),
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 2000, hooks: this.counting('TCP'), buffers: this.buffers,
        ...(this.opts.streamClientReads ? { streamClientReads: true } : {}) })
      : new UdpServiceListener({ ip: d.ip, port: d.port, family: d.family, servicePort: d.servicePort, balancer: this.balancer(d.balancerKey),
        idleTimeoutMs: this.opts.udpIdleTimeoutMs ?? 30_000, hooks: this.counting('UDP') });
  }

  /** Binds `d`'s address, or takes the socket the replaced proxy handed over for it. */
  private async bind(d: DesiredListener): Promise<TcpServiceListener | UdpServiceListener> {
    const listener = this.newListener(d);
    const handle = d.protocol === 'TCP' ? this.inherited.get(d.key) : undefined;
    if (handle) this.inherited.delete(d.key);
    try {
      if (handle) await (listener as TcpServiceListener).listen(handle);
      else await listener.listen();
      return listener;
    } catch (e) {
      await listener.close();
      throw e;
    }
  }

  /** The waiter's attempt at an address in use. */
  private async bindWaiting(key: string): Promise<BindOutcome> {
    const o = this.open.get(key);
    if (!o || o.listener || this.closed || this.stopping) return 'gone';
    let listener: TcpServiceListener | UdpServiceListener;
    try {
      listener = await this.bind(o.desired);
    } catch (e) {
      if (isAddressInUse(e)) return 'inUse';
      o.error = (e as NodeJS.ErrnoException).code ?? errorText(e);
      this.log.warn('userspace proxy could not bind a service address', { address: this.status(o).address, error: o.error });
      return 'gone';
    }
    if (this.open.get(key) !== o || o.listener || this.closed || this.stopping) {
      // Removed, stopped or closed while binding.
      await listener.close();
      return 'gone';
    }
    o.listener = listener;
    o.error = undefined;
    this.log.debug('userspace proxy listening', { address: listener.address, protocol: o.desired.protocol, servicePort: o.desired.servicePort });
    this.countListeners();
    return 'bound';
  }

  /** apply() left addresses waiting: said once (log, onBindWait), with how many. */
  private waitBegan(): void {
    if (this.waitingSince !== undefined || this.waiter.size === 0) return;
    this.waitingSince = Date.now();
    this.log.info('userspace proxy: service addresses held by another process (the proxy this one replaces?); taking them over as soon as it lets go',
      { addresses: this.waiter.keys().join(' ') });
    this.opts.onBindWait?.(this.waiter.size);
  }

  private waitEnded(): void {
    if (this.waitingSince === undefined) return;
    const waitedMs = Date.now() - this.waitingSince;
    this.waitingSince = undefined;
    if (this.closed || this.stopping) return;
    this.log.info('userspace proxy: took over the service addresses', { waitedMs });
    this.opts.onBindWait?.(0);
  }

  /** Handed-over sockets nothing wants: closed, so that their addresses are free. */
  private closeInherited(): void {
    for (const h of this.inherited.values()) {
      try { (h as { close?(): void }).close?.(); } catch { /* already closed */ }
    }
    this.inherited.clear();
  }

  /** The bound TCP listeners' sockets, for the proxy that replaces this one (they stay open here too). */
  exportListeners(): HandedListener[] {
    const out: HandedListener[] = [];
    if (this.stopping || this.closed) return out;
    for (const [key, o] of this.open) {
      const handle = o.listener instanceof TcpServiceListener ? o.listener.handle : undefined;
      if (handle) out.push({ key, handle });
    }
    return out;
  }

  private balancer(key: string): RoundRobinBalancer {
    let b = this.balancers.get(key);
    if (!b) {
      b = new RoundRobinBalancer(this.clock);
      this.balancers.set(key, b);
    }
    return b;
  }

  /** Reconciles the sockets with the snapshot. Bind failures are reported, not thrown. */
  async apply(snapshot: ProxySnapshot): Promise<UserspaceApplyResult> {
    if (this.closed || this.stopping) return { failed: [], waiting: [] };
    const desired = desiredListeners(snapshot, this.opts.nodePortAddresses ?? ['127.0.0.1']);
    const want = new Map(desired.map((d) => [d.key, d]));

    // Endpoint lists first, so a listener that stays sees its new endpoints at once.
    const byBalancer = new Map<string, DesiredListener>();
    for (const d of desired) if (!byBalancer.has(d.balancerKey)) byBalancer.set(d.balancerKey, d);
    for (const [key, d] of byBalancer) this.balancer(key).update(d.endpoints, d.affinity);
    for (const key of [...this.balancers.keys()]) if (!byBalancer.has(key)) this.balancers.delete(key);

    for (const [key, o] of [...this.open]) {
      const d = want.get(key);
      if (!d || d.balancerKey !== o.desired.balancerKey) {
        this.open.delete(key);
        this.waiter.delete(key);
        await o.listener?.close();
        if (o.listener instanceof TcpServiceListener && o.listener.activeConnections > 0) this.retired.add(o.listener);
      }
    }
    for (const l of this.retired) if (l.activeConnections === 0) this.retired.delete(l);
    const failed: ListenerStatus[] = [];
    for (const d of desired) {
      if (this.stopping || this.closed) break;
      let o = this.open.get(d.key);
      if (o?.listener || (o && this.waiter.has(d.key))) {
        // Bound, or waiting for the address: the waiter binds it with what it wants by then.
        o.desired = d;
        if (o.listener instanceof UdpServiceListener) o.listener.endpointsChanged();
        continue;
      }
      o = { desired: d };
      this.open.set(d.key, o);
      try {
        const listener = await this.bind(d);
        if (this.stopping || this.closed || this.open.get(d.key) !== o) {
          // Stopped (or closed) while binding: this one goes with the others.
          this.retire(listener);
          if (this.closed && listener instanceof TcpServiceListener) listener.destroyConnections();
          break;
        }
        o.listener = listener;
        this.log.debug('userspace proxy listening', { address: listener.address, protocol: d.protocol, servicePort: d.servicePort });
      } catch (e) {
        o.error = (e as NodeJS.ErrnoException).code ?? errorText(e);
        if (isAddressInUse(e)) this.waiter.add(d.key);
        else failed.push(this.status(o));
      }
    }
    // Handed-over sockets are for the first apply: the ones it did not want are let go.
    this.closeInherited();
    this.countListeners();
    this.waitBegan();
    const waiting = this.waiter.keys().map((k) => this.open.get(k)).filter((o): o is Open => !!o).map((o) => this.status(o));
    return { failed, waiting };
  }

  private countListeners(): void {
    if (this.stopping || this.closed) return;
    this.opts.metrics?.userspaceListeners.set([...this.open.values()].filter((o) => o.listener && o.desired.protocol === 'TCP').length, { protocol: 'TCP' });
    this.opts.metrics?.userspaceListeners.set([...this.open.values()].filter((o) => o.listener && o.desired.protocol === 'UDP').length, { protocol: 'UDP' });
  }

  private counting(protocol: 'TCP' | 'UDP'): RelayHooks {
    return { ...this.hooks, onAccept: () => this.opts.metrics?.userspaceConnectionsTotal.inc({ protocol }) };
  }

  private status(o: Open): ListenerStatus {
    const d = o.desired;
    const l = o.listener;
    return {
      key: d.key,
      protocol: d.protocol,
      address: d.ip.includes(':') ? `[${d.ip}]:${d.port}` : `${d.ip}:${d.port}`,
      kind: d.kind,
      servicePort: d.servicePort,
      endpoints: (this.balancers.get(d.balancerKey)?.list() ?? d.endpoints).map((e) => e.key),
      affinity: d.affinity,
      bound: !!l,
      ...(o.error && !l ? { error: o.error } : {}),
      ...(!l && this.waiter.has(d.key) ? { waiting: true } : {}),
      active: l instanceof TcpServiceListener ? l.activeConnections : l instanceof UdpServiceListener ? l.activeSessions : 0,
    };
  }

  listeners(): ListenerStatus[] {
    return [...this.open.values()].map((o) => this.status(o)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The endpoint a client is stuck to for a service port (affinity), if any. */
  stickyEndpoint(balancerKey: string, clientIP: string): string | undefined {
    return this.balancers.get(balancerKey)?.stickyEndpoint(clientIP);
  }

  /** A readable table of the listeners: the userspace mode's "rules". */
  describe(): string {
    const lines = ['# userspace proxy listeners: PROTO ADDRESS (KIND) -> SERVICEPORT [ENDPOINTS] affinity'];
    for (const l of this.listeners()) {
      const aff = l.affinity.clientIP ? ` affinity=ClientIP/${Math.round(l.affinity.timeoutMs / 1000)}s` : '';
      const state = l.bound ? '' : ` UNBOUND(${l.error ?? 'pending'}${l.waiting ? ', waiting for it' : ''})`;
      lines.push(`${l.protocol} ${l.address} (${l.kind}) -> ${l.servicePort} [${l.endpoints.join(', ')}]${aff}${state}`);
    }
    return lines.join('\n') + '\n';
  }

  /**
   * Closes every listener and ends every relay; after a graceful stop (`stop` aborted,
   * or stopAccepting()), first lets the open relays end, for up to `drainTimeoutMs`.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.waiter.close();
    this.closeInherited();
    if (this.stopping) {
      const open = this.openRelays;
      this.opts.onDrain?.(open);
      if (open > 0) {
        const limit = this.opts.drainTimeoutMs ?? defaultDrainTimeoutMs;
        this.log.info('userspace proxy draining', { openRelays: open, timeoutMs: limit });
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          Promise.all([...this.retired].map((l) => l.whenIdle())).then(() => false),
          new Promise<boolean>((r) => { timer = setTimeout(() => r(true), limit); }),
        ]);
        clearTimeout(timer);
        if (timedOut) this.log.warn('userspace proxy drain timed out; ending the connections still open', { openRelays: this.openRelays, timeoutMs: limit });
      }
    }
    for (const o of this.open.values()) {
      await o.listener?.close();
      if (o.listener instanceof TcpServiceListener) o.listener.destroyConnections();
    }
    for (const l of this.retired) l.destroyConnections();
    this.retired.clear();
    this.open.clear();
    this.balancers.clear();
  }
}
