// The proxy's observability, with kube-proxy's names (pkg/proxy/metrics/metrics.go) so
// dashboards and alerts written for kube-proxy read ours unchanged; the health logic of
// pkg/proxy/healthcheck/proxy_health.go (/healthz and /livez); and the HTTP server that
// serves them (kube-proxy's --metrics-bind-address, 127.0.0.1:10249 by default).
//
// The metric types are a small, dependency-free subset of Prometheus' client: counters,
// gauges and histograms with labels, rendered in the text exposition format 0.0.4.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Node } from 'kubernetes-types/core/v1.js';
import { systemClock, type Clock } from '../client/clock.js';
import { silentLogger, type Logger } from '../client/log.js';
import type { IPFamily } from './snapshot.js';

type Labels = Record<string, string>;

function labelKey(names: readonly string[], labels: Labels): string {
  return names.map((n) => labels[n] ?? '').join('\u0000');
}

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

function formatLabels(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

interface Metric {
  readonly name: string;
  render(): string;
}

abstract class Vec<T> implements Metric {
  protected readonly series = new Map<string, { values: string[]; data: T }>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = []) {}
  protected abstract init(): T;
  protected get(labels: Labels = {}): T {
    const key = labelKey(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      s = { values: this.labelNames.map((n) => labels[n] ?? ''), data: this.init() };
      this.series.set(key, s);
    }
    return s.data;
  }
  abstract render(): string;
  protected header(type: string): string {
    return `# HELP ${this.name} ${this.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n# TYPE ${this.name} ${type}\n`;
  }
}

export class Counter extends Vec<{ v: number }> {
  protected init(): { v: number } { return { v: 0 }; }
  inc(labels?: Labels, by = 1): void { this.get(labels).v += by; }
  value(labels?: Labels): number { return this.get(labels).v; }
  render(): string {
    // A counter without labels is shown at 0 before its first increment, as client_golang does.
    if (this.labelNames.length === 0) this.get();
    let out = this.header('counter');
    for (const s of this.series.values()) out += `${this.name}${formatLabels(this.labelNames, s.values)} ${formatValue(s.data.v)}\n`;
    return out;
  }
}

export class Gauge extends Vec<{ v: number }> {
  protected init(): { v: number } { return { v: 0 }; }
  set(v: number, labels?: Labels): void { this.get(labels).v = v; }
  value(labels?: Labels): number { return this.get(labels).v; }
  render(): string {
    if (this.labelNames.length === 0) this.get();
    let out = this.header('gauge');
    for (const s of this.series.values()) out += `${this.name}${formatLabels(this.labelNames, s.values)} ${formatValue(s.data.v)}\n`;
    return out;
  }
}

interface HistogramData { counts: number[]; sum: number; count: number }

export class Histogram extends Vec<HistogramData> {
  constructor(name: string, help: string, readonly buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, labelNames);
  }
  protected init(): HistogramData { return { counts: this.buckets.map(() => 0), sum: 0, count: 0 }; }
  observe(v: number, labels?: Labels): void {
    const d = this.get(labels);
    d.sum += v;
    d.count++;
    this.buckets.forEach((b, i) => { if (v <= b) d.counts[i]!++; });
  }
  /** Number of observations (tests). */
  count(labels?: Labels): number { return this.get(labels).count; }
  sum(labels?: Labels): number { return this.get(labels).sum; }
  render(): string {
    if (this.labelNames.length === 0) this.get();
    let out = this.header('histogram');
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket${formatLabels(this.labelNames, s.values, ['le', formatValue(b)])} ${s.data.counts[i]}\n`;
      });
      out += `${this.name}_bucket${formatLabels(this.labelNames, s.values, ['le', '+Inf'])} ${s.data.count}\n`;
      out += `${this.name}_sum${formatLabels(this.labelNames, s.values)} ${formatValue(s.data.sum)}\n`;
      out += `${this.name}_count${formatLabels(this.labelNames, s.values)} ${s.data.count}\n`;
    }
    return out;
  }
}

export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + width * i);
}

export type ProxyMode = 'nftables' | 'iptables' | 'userspace';

/** kube-proxy's metrics (the ones that apply to the mode), plus svcnet's own under `svcnet_proxy_`. */
export class ProxyMetrics {
  readonly syncProxyRulesLatency = new Histogram('kubeproxy_sync_proxy_rules_duration_seconds',
    'SyncProxyRules latency in seconds', exponentialBuckets(0.001, 2, 15));
  readonly syncFullProxyRulesLatency = new Histogram('kubeproxy_sync_full_proxy_rules_duration_seconds',
    'SyncProxyRules latency in seconds for full resyncs', exponentialBuckets(0.001, 2, 15));
  readonly syncPartialProxyRulesLatency = new Histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds',
    'SyncProxyRules latency in seconds for partial resyncs', exponentialBuckets(0.001, 2, 15));
  readonly syncProxyRulesLastTimestamp = new Gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds',
    'The last time proxy rules were successfully synced');
  readonly syncProxyRulesLastQueuedTimestamp = new Gauge('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
    'The last time a sync of proxy rules was queued');
  // kube-proxy's MergeBuckets starts from a single 0 bucket.
  readonly networkProgrammingLatency = new Histogram('kubeproxy_network_programming_duration_seconds',
    'In Cluster Network Programming Latency in seconds',
    [0, ...linearBuckets(0.25, 0.25, 2), ...linearBuckets(1, 1, 59), ...linearBuckets(60, 5, 12), ...linearBuckets(120, 30, 7)]);
  readonly endpointChangesPending = new Gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes');
  readonly endpointChangesTotal = new Counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes');
  readonly serviceChangesPending = new Gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes');
  readonly serviceChangesTotal = new Counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes');
  readonly noLocalEndpointsTotal = new Gauge('kubeproxy_sync_proxy_rules_no_local_endpoints_total',
    'Number of services with a Local traffic policy and no endpoints', ['traffic_policy']);
  readonly proxyHealthzTotal = new Counter('kubeproxy_proxy_healthz_total', 'Cumulative proxy healthz HTTP status', ['code']);
  readonly proxyLivezTotal = new Counter('kubeproxy_proxy_livez_total', 'Cumulative proxy livez HTTP status', ['code']);
  // iptables mode
  readonly iptablesRestoreFailuresTotal = new Counter('kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
    'Cumulative proxy iptables restore failures');
  readonly iptablesPartialRestoreFailuresTotal = new Counter('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
    'Cumulative proxy iptables partial restore failures');
  readonly iptablesRulesTotal = new Gauge('kubeproxy_sync_proxy_rules_iptables_total', 'Total number of iptables rules owned by kube-proxy', ['table']);
  readonly iptablesRulesLastSync = new Gauge('kubeproxy_sync_proxy_rules_iptables_last', 'Number of iptables rules written by kube-proxy in last sync', ['table']);
  // nftables mode
  readonly nftablesSyncFailuresTotal = new Counter('kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'Cumulative proxy nftables sync failures');
  readonly nftablesCleanupFailuresTotal = new Counter('kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total',
    'Cumulative proxy nftables cleanup failures');
  // svcnet's own, for every mode.
  readonly syncFailuresTotal = new Counter('svcnet_proxy_sync_failures_total', 'Cumulative failed syncs of the data plane (any mode)');
  readonly nftablesRulesTotal = new Gauge('svcnet_proxy_nftables_rules', 'Rules in the kube-proxy nftables table after the last sync', ['family']);
  readonly userspaceListeners = new Gauge('svcnet_proxy_userspace_listeners', 'Service addresses the userspace proxy listens on', ['protocol']);
  readonly userspaceConnectionsTotal = new Counter('svcnet_proxy_userspace_connections_total',
    'Connections (TCP) and sessions (UDP) relayed by the userspace proxy', ['protocol']);
  readonly userspaceConnectFailuresTotal = new Counter('svcnet_proxy_userspace_endpoint_connect_failures_total',
    'Failed attempts to reach an endpoint (each is retried on another one)');

  constructor(readonly mode: ProxyMode) {}

  private registered(): Metric[] {
    const core: Metric[] = [
      this.syncProxyRulesLatency, this.syncProxyRulesLastQueuedTimestamp, this.syncProxyRulesLastTimestamp,
      this.endpointChangesPending, this.endpointChangesTotal, this.serviceChangesPending, this.serviceChangesTotal,
      this.proxyHealthzTotal, this.proxyLivezTotal, this.networkProgrammingLatency, this.noLocalEndpointsTotal,
      this.syncFailuresTotal,
    ];
    switch (this.mode) {
      case 'iptables':
        return [...core, this.syncFullProxyRulesLatency, this.syncPartialProxyRulesLatency, this.iptablesRestoreFailuresTotal,
          this.iptablesPartialRestoreFailuresTotal, this.iptablesRulesTotal, this.iptablesRulesLastSync];
      case 'nftables':
        return [...core, this.syncFullProxyRulesLatency, this.syncPartialProxyRulesLatency, this.nftablesSyncFailuresTotal,
          this.nftablesCleanupFailuresTotal, this.nftablesRulesTotal];
      case 'userspace':
        return [...core, this.userspaceListeners, this.userspaceConnectionsTotal, this.userspaceConnectFailuresTotal];
    }
  }

  /** The Prometheus text exposition (format 0.0.4). */
  render(): string {
    return this.registered().map((m) => m.render()).join('');
  }
}

// ---------------------------------------------------------------- health

/** kube-proxy's ToBeDeletedTaint: the cluster autoscaler is about to remove the node. */
export const toBeDeletedTaint = 'ToBeDeletedByClusterAutoscaler';

export interface ProxierHealthJSON { lastUpdated: string; healthy: boolean }

/** The JSON kube-proxy's /healthz and /livez answer (field names and order as kube-proxy's ProxyHealth). */
export interface ProxyHealthJSON {
  lastUpdated: string;
  currentTime: string;
  nodeEligible?: boolean;
  healthy: boolean;
  status?: Partial<Record<IPFamily, ProxierHealthJSON>>;
}

export interface ProxyHealthOptions {
  clock?: Clock;
  /** kube-proxy uses 2 × its sync period (60 s by default). */
  healthTimeoutMs?: number;
  /**
   * The node as last seen (undefined: not seen). Without this callback the node is
   * always eligible (a proxy run without a Node object).
   */
  node?: () => { seen: boolean; node?: Node };
}

const goZeroTime = '0001-01-01T00:00:00Z';

/**
 * kube-proxy's ProxyHealthServer logic: a proxier is unhealthy when an update was
 * queued longer than healthTimeout ago and not applied since; /healthz additionally
 * fails when the node is being deleted or tainted ToBeDeletedByClusterAutoscaler.
 */
export class ProxyHealth {
  private readonly clock: Clock;
  private readonly healthTimeoutMs: number;
  private readonly lastUpdated = new Map<IPFamily, number>();
  private readonly oldestPendingQueued = new Map<IPFamily, number>();

  constructor(private readonly opts: ProxyHealthOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 60_000;
  }

  /** The proxier of `family` has changes it has not applied yet. */
  queuedUpdate(family: IPFamily): void {
    if (!this.oldestPendingQueued.has(family)) this.oldestPendingQueued.set(family, this.clock.now());
  }

  /** The proxier of `family` applied everything it knew. */
  updated(family: IPFamily): void {
    this.oldestPendingQueued.delete(family);
    this.lastUpdated.set(family, this.clock.now());
  }

  health(): { healthy: boolean; lastUpdated: number | undefined; currentTime: number; status: Partial<Record<IPFamily, { lastUpdated: number; healthy: boolean }>> } {
    const now = this.clock.now();
    let last: number | undefined;
    let healthy = true;
    const status: Partial<Record<IPFamily, { lastUpdated: number; healthy: boolean }>> = {};
    for (const [family, t] of this.lastUpdated) {
      if (last === undefined || t > last) last = t;
      const queued = this.oldestPendingQueued.get(family);
      // Healthy while starting up, when fully synced, or when the queued update is not late yet.
      const ok = queued === undefined || now - queued < this.healthTimeoutMs;
      if (!ok) healthy = false;
      status[family] = { lastUpdated: t, healthy: ok };
    }
    // Never synced at all, and the first update has been waiting too long: not healthy either.
    for (const [family, queued] of this.oldestPendingQueued) {
      if (!this.lastUpdated.has(family) && now - queued >= this.healthTimeoutMs) {
        healthy = false;
        status[family] = { lastUpdated: 0, healthy: false };
      }
    }
    return { healthy, lastUpdated: last, currentTime: now, status };
  }

  nodeEligible(): boolean {
    if (!this.opts.node) return true;
    const { seen, node } = this.opts.node();
    if (!node) return !seen;
    if (node.metadata?.deletionTimestamp) return false;
    return !(node.spec?.taints ?? []).some((t) => t.key === toBeDeletedTaint);
  }

  /** The body and status code of /healthz (withNode) or /livez. */
  respond(withNode: boolean): { code: 200 | 503; body: ProxyHealthJSON } {
    const h = this.health();
    const eligible = withNode ? this.nodeEligible() : true;
    const healthy = h.healthy && eligible;
    const iso = (t: number | undefined) => (t === undefined || t === 0 ? goZeroTime : new Date(t).toISOString());
    const status: Partial<Record<IPFamily, ProxierHealthJSON>> = {};
    for (const [f, s] of Object.entries(h.status) as [IPFamily, { lastUpdated: number; healthy: boolean }][]) {
      status[f] = { lastUpdated: iso(s.lastUpdated), healthy: s.healthy };
    }
    const body: ProxyHealthJSON = {
      // As kube-proxy: a healthy answer reports "now", keeping the old meaning of lastUpdated.
      lastUpdated: healthy ? iso(h.currentTime) : iso(h.lastUpdated),
      currentTime: iso(h.currentTime),
      ...(withNode ? { nodeEligible: eligible } : {}),
      healthy: h.healthy,
      ...(Object.keys(status).length ? { status } : {}),
    };
    return { code: healthy ? 200 : 503, body };
  }
}

// ---------------------------------------------------------------- server

export interface HostPort { host: string; port: number }

/** Parses `host:port`, `[v6]:port` or `:port` (all addresses). */
export function parseHostPort(s: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export interface ProxyServerOptions {
  host: string;
  port: number;
  metrics: ProxyMetrics;
  health: ProxyHealth;
  log?: Logger;
}

export interface RunningProxyServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves /metrics, /healthz, /livez and /proxyMode (kube-proxy's metrics and healthz servers in one). */
export async function startProxyServer(o: ProxyServerOptions): Promise<RunningProxyServer> {
  const log = o.log ?? silentLogger;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/metrics':
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(o.metrics.render());
        return;
      case '/healthz':
      case '/livez': {
        const withNode = path === '/healthz';
        const r = o.health.respond(withNode);
        (withNode ? o.metrics.proxyHealthzTotal : o.metrics.proxyLivezTotal).inc({ code: String(r.code) });
        res.writeHead(r.code, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' }).end(JSON.stringify(r.body));
        return;
      }
      case '/proxyMode':
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(o.metrics.mode);
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
    }
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  log.info('proxy metrics and health server listening', { address: `${host}:${addr.port}` });
  let closed: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}
