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
import { systemClock, type Clock } from '../../client/clock.js';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import { ipFamilyOf } from '../../api/validation/ip.js';
import type { IPFamily, ProxySnapshot, SnapshotEndpoint } from '../snapshot.js';
import type { ProxyMetrics } from '../metrics.js';
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
  active: number;
}

interface Open {
  desired: DesiredListener;
  listener?: TcpServiceListener | UdpServiceListener;
  error?: string;
}

export interface UserspaceApplyResult {
  /** Listeners that could not be bound this time (they are retried on the next apply). */
  failed: ListenerStatus[];
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
    if (this.closed) return { failed: [] };
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
        await o.listener?.close();
        if (o.listener instanceof TcpServiceListener && o.listener.activeConnections > 0) this.retired.add(o.listener);
        this.open.delete(key);
      }
    }
    const failed: ListenerStatus[] = [];
    for (const d of desired) {
      let o = this.open.get(d.key);
      if (o?.listener) {
        o.desired = d;
        if (o.listener instanceof UdpServiceListener) o.listener.endpointsChanged();
        continue;
      }
      o = { desired: d };
      this.open.set(d.key, o);
      const listener = d.protocol === 'TCP'
        ? new TcpServiceListener({ ip: d.ip, port: d.port, servicePort: d.servicePort, balancer: this.balancer(d.balancerKey),
          connectTimeoutMs: this.opts.connectTimeoutMs ?? 2000, hooks: this.counting('TCP'), buffers: this.buffers,
          ...(this.opts.streamClientReads ? { streamClientReads: true } : {}) })
        : new UdpServiceListener({ ip: d.ip, port: d.port, family: d.family, servicePort: d.servicePort, balancer: this.balancer(d.balancerKey),
          idleTimeoutMs: this.opts.udpIdleTimeoutMs ?? 30_000, hooks: this.counting('UDP') });
      try {
        await listener.listen();
        o.listener = listener;
        this.log.debug('userspace proxy listening', { address: listener.address, protocol: d.protocol, servicePort: d.servicePort });
      } catch (e) {
        o.error = (e as NodeJS.ErrnoException).code ?? errorText(e);
        await listener.close();
        failed.push(this.status(o));
      }
    }
    this.opts.metrics?.userspaceListeners.set([...this.open.values()].filter((o) => o.listener && o.desired.protocol === 'TCP').length, { protocol: 'TCP' });
    this.opts.metrics?.userspaceListeners.set([...this.open.values()].filter((o) => o.listener && o.desired.protocol === 'UDP').length, { protocol: 'UDP' });
    return { failed };
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
      const state = l.bound ? '' : ` UNBOUND(${l.error ?? 'pending'})`;
      lines.push(`${l.protocol} ${l.address} (${l.kind}) -> ${l.servicePort} [${l.endpoints.join(', ')}]${aff}${state}`);
    }
    return lines.join('\n') + '\n';
  }

  /** Closes every listener and ends every relay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
