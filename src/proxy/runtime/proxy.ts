// `startProxy`: one node's service proxy, assembled. Informers (Services,
// EndpointSlices, the Node) feed the sync loop; the loop builds the snapshot and hands
// it to the data plane of the chosen mode; after each sync UDP conntrack entries are
// cleaned and the healthCheckNodePort servers are updated; /metrics, /healthz and
// /livez are served. `svcnet proxy` parses flags into these options and calls it; the
// embedded cluster calls it once per node namespace.
import type { Client } from '../../client/types.js';
import { InformerFactory, type Registration } from '../../client/informer.js';
import { systemClock, type Clock } from '../../client/clock.js';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import type { ProxySnapshot } from '../snapshot.js';
import { ProxyHealth, ProxyMetrics, parseHostPort, startProxyServer, type ProxyMode, type RunningProxyServer } from '../metrics.js';
import { ConntrackCleaner, conntrackCleanupPlan } from '../conntrack.js';
import { createApplier, type IptablesVariant, type RuleApplier } from './apply.js';
import { IptablesDataplane, NftablesDataplane, UserspaceDataplane, type Dataplane, type KernelRenderOptions } from './dataplane.js';
import { ProxyError } from './errors.js';
import type { CommandRunner } from './exec.js';
import { ServiceHealthServers, type ListenerFactory, type ServiceHealthInfo } from './healthcheck.js';
import { connectInformers, SyncLoop, type SyncResult } from './sync.js';
import type { IPFamily } from '../snapshot.js';
import type { HandedListener, UserspaceProxyOptions } from '../userspace/proxier.js';
import { bindWhenFree, defaultBindRetryMs, fastBindRetryMs } from '../bindwait.js';

export type { ProxyMode } from '../metrics.js';

export interface StartProxyOptions {
  client: Client;
  nodeName: string;
  mode: ProxyMode;
  /** The node's network namespace (kernel modes): rules and conntrack go there. Undefined: this namespace. */
  netns?: string;
  /** Default 1000 ms (kube-proxy --iptables-min-sync-period). */
  minSyncPeriodMs?: number;
  /** Default 30 s. */
  syncPeriodMs?: number;
  /** `host:port` for /metrics, /healthz, /livez (port 0: any free port). Default 127.0.0.1:10249; '' disables. */
  metricsAddress?: string;
  /** --cluster-cidr: pod traffic detection (ClusterCIDR mode) for masquerading decisions. */
  clusterCIDR?: string | string[];
  /** Service CIDRs: nftables drops traffic to unallocated ClusterIPs in them. */
  serviceCIDRs?: string[];
  /** --nodeport-addresses (kernel modes); userspace: the addresses NodePorts are bound on. */
  nodePortAddresses?: string[];
  /** The node's IPs when its Node object is absent or has none. */
  nodeIPs?: string[];
  /** --masquerade-all. */
  masqueradeAll?: boolean;
  /** IP families to program (kernel modes). Default: IPv4, and IPv6 when in use. */
  families?: IPFamily[];
  /** iptables binaries: iptables-nft or iptables-legacy; default the system's `iptables`. */
  iptablesVariant?: IptablesVariant;
  /** Extra renderer flags (kernel modes). */
  render?: KernelRenderOptions;
  /** Remove the other kernel mode's leftover rules at start, as kube-proxy does. Default true. */
  cleanupOtherMode?: boolean;
  /** UDP conntrack cleanup (kernel modes). Default true. */
  conntrack?: boolean;
  /** Where healthCheckNodePort servers listen (NetnsListenerFactory for a node namespace). Default: this namespace. */
  healthCheckListeners?: ListenerFactory;
  /** Default 0.0.0.0. */
  healthCheckBindAddress?: string;
  /** /healthz turns 503 when a queued change waits longer than this. Default 2 × syncPeriod. */
  healthTimeoutMs?: number;
  /**
   * A port in use at start (EADDRINUSE: the proxy this one replaces still holds it) is
   * retried in the background instead of failing: the metrics/healthz port,
   * healthCheckNodePorts and the userspace service addresses, every 10–20 ms for this long,
   * then every second. Default 60 000 ms.
   */
  bindRetryMs?: number;
  /** Userspace mode tuning (nodePortAddresses above takes precedence). */
  userspace?: Omit<UserspaceProxyOptions, 'log' | 'metrics' | 'clock'>;
  /**
   * Informers shared with other components of the process (the embedded cluster runs one
   * proxy per node): the proxy adds its handlers and removes them on close, but does not
   * close the factory. Default: a factory of its own over `client`.
   */
  informerFactory?: InformerFactory;
  /** Tests: a fake applier instead of nft / iptables-restore. */
  applier?: RuleApplier;
  /** Tests: how kernel tools are run (conntrack, appliers). */
  runner?: CommandRunner;
  clock?: Clock;
  log?: Logger;
}

export interface RunningProxy {
  readonly mode: ProxyMode;
  readonly nodeName: string;
  /** `http://host:port` of the metrics/health server, when enabled. */
  readonly metricsUrl: string | undefined;
  readonly metrics: ProxyMetrics;
  /** Syncs now (after the one in progress); rejects if that sync fails. */
  syncNow(): Promise<void>;
  /** The snapshot in force (last successful sync). */
  snapshot(): ProxySnapshot | undefined;
  /** The whole ruleset (or userspace listener table) in force, as rendered. */
  lastRules(): string;
  /** healthCheckNodePort servers and their local endpoint counts. */
  healthChecks(): ServiceHealthInfo[];
  /** userspace: the listening TCP sockets, to hand over to the proxy that replaces this one (they stay open here). */
  exportListeners(): HandedListener[];
  /** Stops watching and serving. Kernel rules stay in force (kube-proxy's behaviour); userspace listeners close. */
  close(): Promise<void>;
}

function toList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Builds the data plane of a mode (exported for the CLI and tests). */
export function createDataplane(o: StartProxyOptions, metrics: ProxyMetrics, log: Logger, clock: Clock): { dataplane: Dataplane; applier?: RuleApplier } {
  if (o.mode === 'userspace') {
    return {
      dataplane: new UserspaceDataplane({
        ...(o.bindRetryMs !== undefined ? { bindRetryMs: o.bindRetryMs } : {}),
        ...o.userspace,
        ...(o.nodePortAddresses ? { nodePortAddresses: o.nodePortAddresses } : {}),
        log, metrics, clock,
      }),
    };
  }
  const applier = o.applier ?? createApplier(o.mode, { netns: o.netns, runner: o.runner, variant: o.iptablesVariant });
  const clusterCIDRs = toList(o.clusterCIDR);
  const render: KernelRenderOptions = {
    ...(o.masqueradeAll ? { masqueradeAll: true } : {}),
    ...(clusterCIDRs.length ? { detectLocal: { mode: 'ClusterCIDR', cidrs: clusterCIDRs } } : {}),
    ...(o.nodePortAddresses ? { nodePortAddresses: o.nodePortAddresses } : {}),
    ...(o.serviceCIDRs ? { serviceCIDRs: o.serviceCIDRs } : {}),
    ...o.render,
  };
  const opts = { applier, render, metrics, log, clock, ...(o.families ? { families: o.families } : {}) };
  return { dataplane: o.mode === 'nftables' ? new NftablesDataplane(opts) : new IptablesDataplane(opts), applier };
}

export async function startProxy(o: StartProxyOptions): Promise<RunningProxy> {
  if (o.mode !== 'nftables' && o.mode !== 'iptables' && o.mode !== 'userspace') {
    throw new ProxyError('BAD_OPTION', `unknown proxy mode "${String(o.mode)}"`);
  }
  const log = o.log ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const syncPeriodMs = o.syncPeriodMs ?? 30_000;
  const metrics = new ProxyMetrics(o.mode);
  const { dataplane } = createDataplane(o, metrics, log, clock);
  const kernel = o.mode !== 'userspace';

  if (kernel && !o.applier && (o.cleanupOtherMode ?? true)) {
    // Switching modes must not leave the other mode's rules intercepting traffic.
    const other = createApplier(o.mode === 'nftables' ? 'iptables' : 'nftables', { netns: o.netns, runner: o.runner, variant: o.iptablesVariant });
    await other.cleanup().catch((e: unknown) => log.debug('cleanup of the other proxy mode skipped', { error: errorText(e) }));
  }

  const cleaner = kernel && (o.conntrack ?? true) ? new ConntrackCleaner({ netns: o.netns, runner: o.runner, log }) : undefined;
  let loop: SyncLoop | undefined;
  const health = new ProxyHealth({ clock, healthTimeoutMs: o.healthTimeoutMs ?? 2 * syncPeriodMs, node: () => loop!.nodeState() });
  const bindRetryUntil = Date.now() + (o.bindRetryMs ?? defaultBindRetryMs);
  const healthServers = new ServiceHealthServers({
    listeners: o.healthCheckListeners,
    bindAddress: o.healthCheckBindAddress,
    bindRetryUntil,
    proxyHealthy: () => health.health().healthy,
    log,
  });

  const afterSync = async (r: SyncResult): Promise<void> => {
    if (cleaner) {
      const plan = conntrackCleanupPlan(r.previous, r.snapshot);
      if (plan.length) await cleaner.run(plan);
    }
    await healthServers.sync(r.snapshot);
  };

  loop = new SyncLoop({
    nodeName: o.nodeName, dataplane, clock, log, metrics, health, afterSync,
    minSyncPeriodMs: o.minSyncPeriodMs ?? 1000,
    syncPeriodMs,
    ...(o.nodeIPs ? { nodeIPs: o.nodeIPs } : {}),
  });
  const theLoop = loop;

  let server: RunningProxyServer | undefined;
  let metricsUrl: string | undefined;
  /** Aborts a metrics server still waiting for its port. */
  const serverWait = new AbortController();
  let serverStarting: Promise<void> | undefined;
  const ownFactory = !o.informerFactory;
  const factory = o.informerFactory ?? new InformerFactory(o.client, { log, clock });
  let registrations: Registration[] = [];
  const cleanup = async () => {
    for (const r of registrations) r.dispose();
    if (ownFactory) factory.close();
    await theLoop.close();
    serverWait.abort();
    await serverStarting;
    await server?.close();
    await healthServers.close();
    await o.healthCheckListeners?.close?.();
    await dataplane.close();
  };
  try {
    if (o.metricsAddress !== '') {
      const addr = parseHostPort(o.metricsAddress ?? '127.0.0.1:10249');
      if (!addr) throw new ProxyError('BAD_ADDRESS', `invalid metrics address "${o.metricsAddress}" (want host:port)`);
      const start = () => startProxyServer({ ...addr, metrics, health, log });
      try {
        server = await start();
        metricsUrl = server.url;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
        // The proxy this one replaces still serves it: taken over once it lets go.
        log.info('metrics/healthz port in use (the proxy this one replaces?); taking it over as soon as it is free', { address: `${addr.host}:${addr.port}` });
        metricsUrl = `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
        serverStarting = bindWhenFree(start, { fastUntil: bindRetryUntil, intervalMs: 2 * fastBindRetryMs, signal: serverWait.signal })
          .then((s) => { server = s; })
          .catch((err: unknown) => { if (!serverWait.signal.aborted) log.error('metrics/healthz server failed', { error: errorText(err) }); });
      }
    }
    // A graceful stop (userspace): the metrics and health check ports are let go with the
    // service addresses, for the proxy that replaces this one.
    o.userspace?.stop?.addEventListener('abort', () => {
      serverWait.abort();
      void server?.close();
      void healthServers.close();
    }, { once: true });
    const informers = connectInformers(factory, theLoop, o.nodeName);
    registrations = informers.registrations;
    factory.start();
    await informers.waitForSync();
    theLoop.start();
    // The first sync: its failure is retried by the loop, not fatal to starting.
    await theLoop.syncNow().catch((e: unknown) => log.warn('first proxy sync failed; retrying', { error: errorText(e) }));
  } catch (e) {
    await cleanup();
    throw e;
  }
  log.info('proxy started', { node: o.nodeName, mode: o.mode, netns: o.netns ?? '', metrics: server?.url ?? '' });

  let closing: Promise<void> | undefined;
  return {
    mode: o.mode,
    nodeName: o.nodeName,
    metricsUrl,
    metrics,
    syncNow: async () => { await theLoop.syncNow(); },
    snapshot: () => theLoop.snapshot(),
    lastRules: () => dataplane.lastRules(),
    healthChecks: () => healthServers.info(),
    exportListeners: () => (dataplane instanceof UserspaceDataplane ? dataplane.proxy.exportListeners() : []),
    close: () => (closing ??= cleanup()),
  };
}
