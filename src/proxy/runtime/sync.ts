// The proxy's sync loop (kube-proxy's syncProxyRules driven by its BoundedFrequencyRunner):
//
//   informer events ─▶ SyncLoop state (Services, EndpointSlices, the Node) ─▶ request
//   request ─▶ coalesced: at most one sync per minSyncPeriod, one at a time
//   sync ─▶ buildSnapshot ─▶ dataplane.sync (one transaction) ─▶ metrics, health, afterSync
//
// - Each sync rebuilds the service ports of only the Services the events named (a
//   Service, or the service-name label of a slice); the others keep theirs, identity
//   included, so the data plane and the "nothing changed" check skip them in O(1).
// - A failed sync forces the next one to be full and retries with exponential backoff;
//   changes that arrive meanwhile wait for the backoff too (no hammering a broken nft).
// - A bad object is logged and left out of the snapshot; it never stops the loop.
// - Partial syncs: the data plane renders only what changed since its last success;
//   every `fullSyncPeriodMs` (1 h, as kube-proxy's FullSyncPeriod) everything is redone.
// - Network programming latency: from an EndpointSlice's
//   `endpoints.kubernetes.io/last-change-trigger-time` (or, for changes without it, the
//   moment the proxy saw them) to the end of the sync that applied them.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { Backoff, type BackoffOptions } from '../../client/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../../client/clock.js';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import type { InformerFactory, Registration } from '../../client/informer.js';
import type { KObject } from '../../client/types.js';
import { findResource } from '../../api/resources.js';
import { deepEqual } from '../../api/validation/meta.js';
import {
  buildServicePortsOf, labelHeadless, labelServiceName, labelServiceProxyName, serviceKey, sliceServiceKey, SnapshotCache,
  type IPFamily, type ProxySnapshot, type ServicePortSnapshot,
} from '../snapshot.js';
import type { ProxyHealth, ProxyMetrics } from '../metrics.js';
import type { Dataplane, DataplaneSyncResult } from './dataplane.js';
import { ProxyError } from './errors.js';

/** Set by the EndpointSlice controller: when the change that produced this slice happened. */
export const lastChangeTriggerTimeAnnotation = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface SyncLoopOptions {
  nodeName: string;
  dataplane: Dataplane;
  clock?: Clock;
  log?: Logger;
  /** Minimum time between the starts of two syncs (kube-proxy --iptables-min-sync-period). Default 1000 ms. */
  minSyncPeriodMs?: number;
  /** A sync runs at least this often even without changes. Default 30 s (--iptables-sync-period). */
  syncPeriodMs?: number;
  /** Every sync after this long is a full one. Default 1 h. */
  fullSyncPeriodMs?: number;
  /** Retry delays after a failed sync. Default 1 s doubling to 30 s, 10 % jitter. */
  backoff?: BackoffOptions;
  metrics?: ProxyMetrics;
  health?: ProxyHealth;
  /** The node's IPs when the Node object is absent or lists none. */
  nodeIPs?: readonly string[];
  /** Runs after each successful sync (conntrack cleanup, health check servers); a failure is logged only. */
  afterSync?: (r: SyncResult) => Promise<void> | void;
}

export interface SyncResult {
  full: boolean;
  partial: boolean;
  durationMs: number;
  /** The snapshot in force before this sync (undefined on the first). */
  previous: ProxySnapshot | undefined;
  snapshot: ProxySnapshot;
  /** Objects left out because building the snapshot with them failed (`kind ns/name`). */
  skipped: string[];
  /** The data plane was not called: nothing changed since the last sync. */
  unchanged: boolean;
}

function key(o: { metadata?: { namespace?: string; name?: string } } | undefined): string {
  return `${o?.metadata?.namespace ?? ''}/${o?.metadata?.name ?? ''}`;
}

/** The parts of a Service the proxy reads: a change elsewhere (managedFields, resourceVersion…) is not a change. */
function serviceFingerprint(s: Service | undefined): string {
  return JSON.stringify([s?.metadata?.labels ?? {}, s?.spec ?? {}, s?.status?.loadBalancer ?? {}]);
}

function sliceFingerprint(s: EndpointSlice | undefined): string {
  return JSON.stringify([s?.metadata?.labels ?? {}, s?.addressType ?? '', s?.endpoints ?? [], s?.ports ?? []]);
}

function nodeFingerprint(n: Node | undefined): string {
  return JSON.stringify([n?.metadata?.labels ?? {}, n?.status?.addresses ?? [], n?.metadata?.deletionTimestamp ?? '', n?.spec?.taints ?? []]);
}

/** The node's IPs kube-proxy uses: InternalIPs first, then ExternalIPs. */
export function nodeAddresses(node: Node | undefined): string[] {
  const addrs = node?.status?.addresses ?? [];
  return [...addrs.filter((a) => a.type === 'InternalIP'), ...addrs.filter((a) => a.type === 'ExternalIP')].map((a) => a.address);
}

export class SyncLoop {
  /** By serviceKey (`ns/name`). */
  private readonly services = new Map<string, Service>();
  /** Service key (`ns/name`) → its slices by slice key. */
  private readonly slicesByService = new Map<string, Map<string, EndpointSlice>>();
  /** Services whose service ports must be rebuilt at the next sync (the informer events say which). */
  private readonly dirtyServices = new Set<string>();
  /** The snapshot, kept up to date service by service. */
  private readonly cache = new SnapshotCache();
  /** Objects left out of the snapshot, per service key. */
  private readonly skippedByService = new Map<string, string[]>();
  private builtLabels: Record<string, string> | undefined;
  private node: Node | undefined;
  private nodeSeen = false;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly minSyncPeriodMs: number;
  private readonly syncPeriodMs: number;
  private readonly fullSyncPeriodMs: number;
  private readonly backoff: Backoff;
  private readonly startedAt: number;

  private ready = false;
  private closed = false;
  private running = false;
  private dirty = false;
  private forceNow = false;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private lastStart = -Infinity;
  private notBefore = -Infinity;
  private retryAt = Infinity;
  private needFull = true;
  private lastFull = -Infinity;
  private waiters: { resolve(r: SyncResult): void; reject(e: Error): void }[] = [];
  private current: Promise<void> | undefined;

  private applied: ProxySnapshot | undefined;
  private pendingServices = new Set<string>();
  private pendingEndpoints = new Set<string>();
  private triggerTimes: number[] = [];
  private failures = 0;
  private lastError: Error | undefined;

  constructor(private readonly o: SyncLoopOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silentLogger;
    this.minSyncPeriodMs = o.minSyncPeriodMs ?? 1000;
    this.syncPeriodMs = o.syncPeriodMs ?? 30_000;
    this.fullSyncPeriodMs = o.fullSyncPeriodMs ?? 3_600_000;
    this.backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.1, ...o.backoff });
    this.startedAt = this.clock.now();
  }

  // ------------------------------------------------------------ inputs

  /** add: (undefined, svc); update: (old, svc); delete: (old, undefined). */
  onServiceChange(old: Service | undefined, svc: Service | undefined): void {
    const k = serviceKey((svc ?? old)!);
    if (svc) this.services.set(k, svc);
    else this.services.delete(k);
    if (old && svc && serviceFingerprint(old) === serviceFingerprint(svc)) return;
    this.dirtyServices.add(k);
    this.o.metrics?.serviceChangesTotal.inc();
    this.pendingServices.add(k);
    this.o.metrics?.serviceChangesPending.set(this.pendingServices.size);
    if (this.applied) this.triggerTimes.push(this.clock.now());
    this.requestSync();
  }

  onSliceChange(old: EndpointSlice | undefined, slice: EndpointSlice | undefined): void {
    const obj = slice ?? old;
    const k = key(obj);
    const before = old && sliceServiceKey(old);
    const after = slice && sliceServiceKey(slice);
    if (before !== undefined && before !== after) this.slicesByService.get(before)?.delete(k);
    if (after !== undefined) {
      let m = this.slicesByService.get(after);
      if (!m) this.slicesByService.set(after, m = new Map());
      m.set(k, slice!);
    } else if (!slice && before !== undefined) {
      this.slicesByService.get(before)?.delete(k);
    }
    if (old && slice && sliceFingerprint(old) === sliceFingerprint(slice)) return;
    if (before !== undefined) this.dirtyServices.add(before);
    if (after !== undefined) this.dirtyServices.add(after);
    this.o.metrics?.endpointChangesTotal.inc();
    const svcName = obj?.metadata?.labels?.[labelServiceName];
    this.pendingEndpoints.add(`${obj?.metadata?.namespace ?? ''}/${svcName ?? obj?.metadata?.name ?? ''}`);
    this.o.metrics?.endpointChangesPending.set(this.pendingEndpoints.size);
    const annotated = Date.parse(obj?.metadata?.annotations?.[lastChangeTriggerTimeAnnotation] ?? '');
    // As kube-proxy: trigger times from before the proxy started describe changes it never saw happen.
    if (!Number.isNaN(annotated)) {
      if (annotated >= this.startedAt) this.triggerTimes.push(annotated);
    } else if (this.applied) {
      this.triggerTimes.push(this.clock.now());
    }
    this.requestSync();
  }

  onNodeChange(node: Node | undefined): void {
    const changed = nodeFingerprint(this.node) !== nodeFingerprint(node);
    if (node) this.nodeSeen = true;
    this.node = node;
    if (changed) this.requestSync();
  }

  /** The node as last seen, for /healthz's nodeEligible. */
  nodeState(): { seen: boolean; node?: Node } {
    return { seen: this.nodeSeen, ...(this.node ? { node: this.node } : {}) };
  }

  /** The caches are filled (informers synced): syncing may begin. */
  start(): void {
    if (this.ready || this.closed) return;
    this.ready = true;
    this.requestSync();
  }

  // ------------------------------------------------------------ scheduling

  /** Asks for a sync; coalesced with others within minSyncPeriodMs. */
  requestSync(): void {
    if (this.closed) return;
    this.o.metrics?.syncProxyRulesLastQueuedTimestamp.set(this.clock.now() / 1000);
    for (const f of this.families()) this.o.health?.queuedUpdate(f);
    this.dirty = true;
    this.schedule();
  }

  /**
   * Runs a sync as soon as the one in progress (if any) ends, ignoring the min period and
   * backoff (but not before start()). Rejects with the sync's error if it fails.
   */
  syncNow(): Promise<SyncResult> {
    if (this.closed) return Promise.reject(new ProxyError('CLOSED', 'sync loop is closed'));
    return new Promise<SyncResult>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.dirty = true;
      this.forceNow = true;
      // Before start() the caches are not filled: the sync waits for them.
      this.schedule();
    });
  }

  private families(): IPFamily[] {
    const out: IPFamily[] = ['IPv4'];
    if (this.applied?.servicePorts.some((sp) => sp.families.some((f) => f.family === 'IPv6'))) out.push('IPv6');
    return out;
  }

  private schedule(): void {
    if (!this.ready || this.closed || this.running) return;
    const now = this.clock.now();
    if (this.forceNow) {
      // An explicit syncNow() does not wait for a timer (nor for a fake clock to move).
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      this.running = true;
      this.current = Promise.resolve().then(() => {
        this.running = false;
        return this.run();
      });
      return;
    }
    let at: number;
    if (this.dirty) at = Math.max(now, this.lastStart + this.minSyncPeriodMs, this.notBefore);
    else at = Math.max(Math.min(this.lastStart + this.syncPeriodMs, this.retryAt), this.lastStart + this.minSyncPeriodMs, now);
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      this.clock.clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.current = this.run();
    }, at - now);
  }

  private async run(): Promise<void> {
    if (this.closed || this.running) return;
    this.running = true;
    const waiters = this.waiters.splice(0);
    this.dirty = false;
    this.forceNow = false;
    this.lastStart = this.clock.now();
    let result: SyncResult | undefined;
    let error: Error | undefined;
    try {
      result = await this.syncOnce();
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    this.running = false;
    if (error) {
      const delay = this.backoff.next();
      this.notBefore = this.clock.now() + delay;
      this.dirty = true;
      this.log.error('proxy sync failed; full resync after backoff', { error: errorText(error), retryInMs: Math.round(delay), failures: this.failures });
      for (const w of waiters) w.reject(error);
    } else {
      this.backoff.reset();
      this.notBefore = -Infinity;
      for (const w of waiters) w.resolve(result!);
    }
    this.schedule();
  }

  // ------------------------------------------------------------ the sync

  /**
   * Brings the snapshot up to date: only the Services that informer events marked (or,
   * after a node label change, all of them) are rebuilt; the others keep their service
   * ports, identity included. An object that makes building fail is left out and named.
   */
  buildSnapshot(): { snapshot: ProxySnapshot; skipped: string[] } {
    const nodeIPs = nodeAddresses(this.node);
    const nodeLabels = this.node?.metadata?.labels ?? {};
    if (!this.builtLabels || !deepEqual(this.builtLabels, nodeLabels)) {
      // Topology hints depend on the node's labels: every service port may change.
      this.cache.clear();
      this.skippedByService.clear();
      for (const k of this.services.keys()) this.dirtyServices.add(k);
      this.builtLabels = { ...nodeLabels };
    }
    for (const k of this.dirtyServices) {
      const svc = this.services.get(k);
      this.skippedByService.delete(k);
      if (!svc) {
        this.cache.set(k, undefined);
        continue;
      }
      this.cache.set(k, this.buildService(k, svc, nodeLabels));
    }
    this.dirtyServices.clear();
    const skipped = [...this.skippedByService.values()].flat();
    const snapshot = this.cache.snapshot({
      nodeName: this.o.nodeName,
      nodeIPs: nodeIPs.length ? nodeIPs : [...(this.o.nodeIPs ?? [])],
      nodeLabels,
    });
    return { snapshot, skipped };
  }

  /** One Service's service ports; on failure, the service or the slices that break it are left out. */
  private buildService(k: string, svc: Service, nodeLabels: Record<string, string>): ServicePortSnapshot[] {
    const slices = [...(this.slicesByService.get(k)?.values() ?? [])];
    const tryBuild = (sl: EndpointSlice[]): ServicePortSnapshot[] | undefined => {
      try {
        return buildServicePortsOf(svc, sl, this.o.nodeName, nodeLabels);
      } catch {
        return undefined;
      }
    };
    const all = tryBuild(slices);
    if (all) return all;
    this.log.warn('building the proxy snapshot failed; isolating the bad objects', { service: k });
    const skipped: string[] = [];
    let ports: ServicePortSnapshot[] = [];
    if (!tryBuild([])) {
      skipped.push(`Service ${key(svc)}`);
    } else {
      const good: EndpointSlice[] = [];
      for (const sl of slices) {
        if (tryBuild([sl])) good.push(sl);
        else skipped.push(`EndpointSlice ${key(sl)}`);
      }
      ports = tryBuild(good) ?? [];
    }
    for (const s of skipped) this.log.error('skipping an object the proxy cannot use', { object: s });
    this.skippedByService.set(k, skipped);
    return ports;
  }

  private async syncOnce(): Promise<SyncResult> {
    const start = this.clock.now();
    const full = this.needFull || start - this.lastFull >= this.fullSyncPeriodMs;
    // Take the pending changes; a failure puts them back.
    const pendingServices = this.pendingServices;
    const pendingEndpoints = this.pendingEndpoints;
    const triggerTimes = this.triggerTimes;
    this.pendingServices = new Set();
    this.pendingEndpoints = new Set();
    this.triggerTimes = [];
    // The data plane asked to be called again by now (stale chains to delete, binds to retry).
    const retryWanted = this.retryAt <= start;

    let snapshot: ProxySnapshot;
    let skipped: string[];
    let dp: DataplaneSyncResult | undefined;
    try {
      ({ snapshot, skipped } = this.buildSnapshot());
      const a = this.applied;
      // Unchanged service ports keep their identity (SnapshotCache): the same list means nothing changed.
      const same = a !== undefined && a.servicePorts === snapshot.servicePorts && a.nodeName === snapshot.nodeName
        && deepEqual(a.nodeIPs, snapshot.nodeIPs) && deepEqual(a.nodeLabels, snapshot.nodeLabels);
      if (!full && !retryWanted && same) {
        dp = undefined;
      } else {
        dp = await this.o.dataplane.sync(snapshot, { full });
      }
    } catch (e) {
      for (const k of pendingServices) this.pendingServices.add(k);
      for (const k of pendingEndpoints) this.pendingEndpoints.add(k);
      this.triggerTimes.unshift(...triggerTimes);
      this.needFull = true;
      this.failures++;
      this.lastError = e instanceof Error ? e : new Error(String(e));
      this.o.metrics?.syncFailuresTotal.inc();
      throw e;
    } finally {
      this.o.metrics?.serviceChangesPending.set(this.pendingServices.size);
      this.o.metrics?.endpointChangesPending.set(this.pendingEndpoints.size);
    }
    const end = this.clock.now();
    const durationMs = end - start;
    const previous = this.applied;
    this.applied = snapshot;
    this.needFull = false;
    if (full) this.lastFull = start;
    this.lastError = undefined;
    if (dp) this.retryAt = dp.retryAfterMs !== undefined ? end + dp.retryAfterMs : Infinity;

    const m = this.o.metrics;
    if (m && dp) {
      const secs = durationMs / 1000;
      m.syncProxyRulesLatency.observe(secs);
      (dp.partial ? m.syncPartialProxyRulesLatency : m.syncFullProxyRulesLatency).observe(secs);
    }
    if (m) {
      m.syncProxyRulesLastTimestamp.set(end / 1000);
      for (const t of triggerTimes) m.networkProgrammingLatency.observe(Math.max(0, end - t) / 1000);
      let internal = 0;
      let external = 0;
      for (const sp of snapshot.servicePorts) {
        for (const f of sp.families) {
          if (!f.hasEndpoints) continue;
          if (!f.hasInternalEndpoints) internal++;
          if (!f.hasExternalEndpoints) external++;
        }
      }
      m.noLocalEndpointsTotal.set(internal, { traffic_policy: 'internal' });
      m.noLocalEndpointsTotal.set(external, { traffic_policy: 'external' });
    }
    // Changes that arrived during the sync keep the health "queued" mark.
    for (const f of this.families()) {
      this.o.health?.updated(f);
      if (this.dirty) this.o.health?.queuedUpdate(f);
    }

    const result: SyncResult = { full, partial: dp?.partial ?? true, durationMs, previous, snapshot, skipped, unchanged: dp === undefined };
    if (dp) this.log.debug('proxy rules synced', { full, partial: dp.partial, durationMs, servicePorts: snapshot.servicePorts.length });
    if (this.o.afterSync && dp) {
      try {
        await this.o.afterSync(result);
      } catch (e) {
        this.log.warn('after-sync step failed', { error: errorText(e) });
      }
    }
    return result;
  }

  // ------------------------------------------------------------ reading

  /** The snapshot in force (last successful sync). */
  snapshot(): ProxySnapshot | undefined { return this.applied; }

  /** Consecutive-failure count and the last error, if the last sync failed. */
  status(): { failures: number; lastError?: string; needFullSync: boolean } {
    return { failures: this.failures, ...(this.lastError ? { lastError: this.lastError.message } : {}), needFullSync: this.needFull };
  }

  /** Stops scheduling; waits for a sync in progress to end. Pending syncNow() calls are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(new ProxyError('CLOSED', 'sync loop closed'));
    await this.current?.catch(() => undefined);
  }
}

// ------------------------------------------------------------ informers

/** kube-proxy's list/watch selector: services and slices another proxy owns, and headless ones, are not ours. */
export const proxyLabelSelector = `!${labelServiceProxyName},!${labelHeadless}`;

const servicesResource = findResource('', 'v1', 'services')!;
const slicesResource = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
const nodesResource = findResource('', 'v1', 'nodes')!;

export interface ProxyInformers {
  /** Dispose them to detach the loop (the informers stay, they belong to the factory). */
  registrations: Registration[];
  /** Resolves when the three informers have listed. */
  waitForSync(): Promise<void>;
}

/**
 * Feeds the loop from shared informers: Services and EndpointSlices of every namespace,
 * and this node.
 */
export function connectInformers(factory: InformerFactory, loop: SyncLoop, nodeName: string): ProxyInformers {
  const svc = factory.informer<Service & KObject>(servicesResource, { labelSelector: proxyLabelSelector });
  const sl = factory.informer<EndpointSlice & KObject>(slicesResource, { labelSelector: proxyLabelSelector });
  const node = factory.informer<Node & KObject>(nodesResource, { fieldSelector: `metadata.name=${nodeName}` });
  const registrations = [
    svc.addEventHandler({
      onAdd: (o) => loop.onServiceChange(undefined, o),
      onUpdate: (a, b) => loop.onServiceChange(a, b),
      onDelete: (o) => loop.onServiceChange(o, undefined),
    }),
    sl.addEventHandler({
      onAdd: (o) => loop.onSliceChange(undefined, o),
      onUpdate: (a, b) => loop.onSliceChange(a, b),
      onDelete: (o) => loop.onSliceChange(o, undefined),
    }),
    node.addEventHandler({
      onAdd: (o) => loop.onNodeChange(o),
      onUpdate: (_a, b) => loop.onNodeChange(b),
      onDelete: () => loop.onNodeChange(undefined),
    }),
  ];
  return {
    registrations,
    waitForSync: async () => { await Promise.all([svc.waitForSync(), sl.waitForSync(), node.waitForSync()]); },
  };
}
